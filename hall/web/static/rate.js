// The rating pad at a window: after each finish, the five GB/T 39734 levels for the visitor.
// It never holds the clerk up: a newer finish simply replaces the ticket being rated.

import { api, errorSentence } from "/static/api.js";
import { connectStream, connectionBadge } from "/static/stream.js";

const hall = document.body.dataset.hall;
const windowNo = document.body.dataset.window;
const H = encodeURIComponent(hall);
const $ = (id) => document.getElementById(id);

const ASK_FOR_S = 30;      // back to idle when nobody taps
const THANKS_FOR_S = 4;

let ticket = null;         // {id, number} being rated
let timer = null;
let sending = false;

function mode(m) {
  document.body.dataset.mode = m;
  $("idle").hidden = m !== "idle";
  $("ask").hidden = m !== "ask";
  $("thanks").hidden = m !== "thanks";
}

function idle() { clearTimeout(timer); ticket = null; mode("idle"); }

function ask(t) {
  ticket = t;
  sending = false;
  $("which").textContent = `您办理的 ${t.number} 号业务已办结`;
  mode("ask");
  let left = ASK_FOR_S;
  clearTimeout(timer);
  const tick = () => {
    $("countdown").textContent = `${left} 秒后自动返回`;
    if (left-- <= 0) idle();
    else timer = setTimeout(tick, 1000);
  };
  tick();
}

async function rate(rating) {
  if (!ticket || sending) return;
  sending = true;
  const t = ticket;
  try {
    await api(`/halls/${H}/tickets/${encodeURIComponent(t.id)}/rating`, { method: "POST", body: { rating } });
    if (ticket !== t) return;  // a newer finish arrived meanwhile: keep asking for that one
    $("thanks-title").textContent = "感谢您的评价！";
    $("thanks-text").textContent = "祝您生活愉快，欢迎再次光临";
  } catch (err) {
    if (ticket !== t) return;
    const done = err.body && err.body.error === "already_rated";
    $("thanks-title").textContent = done ? "感谢您的评价！" : "评价未能提交";
    $("thanks-text").textContent = errorSentence(err);
  } finally {
    sending = false;
  }
  clearTimeout(timer);
  ticket = null;
  mode("thanks");
  timer = setTimeout(idle, THANKS_FOR_S * 1000);
}

for (const b of document.querySelectorAll(".level")) {
  b.addEventListener("click", () => rate(Number(b.dataset.rating)));
}

api(`/halls/${H}/windows`).then((list) => {
  const w = list.find((x) => x.window === windowNo);
  if (w) $("window-name").textContent = w.name;
}).catch(() => {});

connectStream({
  hall,
  topics: ["ticket"],
  onStatus: connectionBadge($("conn")),
  onSnapshot() { document.body.dataset.synced = "1"; },
  onEvent(msg) {
    const d = msg.data || {};
    if (d.window !== windowNo) return;
    if (msg.type === "ticket.finished" && (d.rating === null || d.rating === undefined)) {
      ask({ id: d.ticket_id, number: d.ticket });
    } else if (msg.type === "ticket.rated" && ticket && d.ticket_id === ticket.id && !sending) {
      idle();  // rated elsewhere (e.g. at finish)
    }
  },
});
mode("idle");
