// The tracking page behind the QR on a slip (/t/{ticket_id}), for phones: number, service, status,
// how many ahead, the estimated wait, and the window once called. Live: the ticket topic of the
// stream says when something changed; the page then fetches GET /tickets/{id} again (throttled).

import { connectStream } from "/static/stream.js";
import { api, errorSentence, fmtWait } from "/static/api.js";

const hall = document.body.dataset.hall;
const id = document.body.dataset.ticket;
const $ = (x) => document.getElementById(x);

const STATUS = {
  waiting: ["等候中", "waiting"], called: ["已叫号，请前往窗口", "called"], serving: ["正在办理", "serving"],
  finished: ["已办结，感谢您的耐心", "done"], no_show: ["已过号", "no_show"], expired: ["已失效", "expired"],
};
const THROTTLE_MS = 500;

let ticket = null;
let lastStatus = null;
let stream = null;

function render() {
  const t = ticket;
  if (!t) return;
  $("number").textContent = t.number;
  $("service").textContent = t.service_name || t.service || "";
  const [text, cls] = STATUS[t.status] || [t.status, ""];
  $("status").textContent = text;
  $("status").className = `tr-status ${cls}`;
  const waiting = t.status === "waiting";
  $("figures").hidden = !waiting;
  if (waiting) {
    const ahead = t.ahead ?? 0;
    $("ahead").replaceChildren(document.createTextNode(String(ahead)), Object.assign(document.createElement("small"), { textContent: " 人" }));
    $("est").textContent = fmtWait(t.est_wait_s);
  }
  const called = (t.status === "called" || t.status === "serving") && t.window;
  $("called").hidden = !called;
  if (called) {
    $("called-window").textContent = t.window_name || `${t.window}号窗口`;
    $("called").querySelector(".tr-called-label").textContent =
      t.status === "serving" ? "您正在以下窗口办理" : "已叫到您的号，请前往";
    $("called").querySelector(".tr-called-hint").textContent = t.status === "serving" ? "" : "办理业务";
  }
  const time = (iso) => (iso ? iso.slice(11, 16) : "");
  const bits = [];
  if (t.issued_at) bits.push(`取号时间 ${time(t.issued_at)}`);
  if (t.called_at) bits.push(`叫号时间 ${time(t.called_at)}`);
  $("meta").textContent = bits.join("　");
  document.title = `${t.number} · 排队进度`;
  if (t.status === "called" && lastStatus !== "called") {
    const c = $("called");
    c.classList.remove("flash");
    void c.offsetWidth;
    c.classList.add("flash");
    if (lastStatus !== null && navigator.vibrate) navigator.vibrate([300, 150, 300]);
  }
  lastStatus = t.status;
  if ((t.status === "finished" || t.status === "expired") && stream) { stream.close(); stream = null; $("conn").textContent = ""; }
}

async function fetchTicket() {
  try {
    ticket = await api(`/halls/${encodeURIComponent(hall)}/tickets/${encodeURIComponent(id)}`);
    $("error").hidden = true;
    render();
  } catch (e) {
    $("error").textContent = errorSentence(e);
    $("error").hidden = false;
  }
}

// Throttle: the first change fetches at once, later ones within THROTTLE_MS are folded into one.
let last = 0;
let timer = null;
function refresh() {
  if (timer) return;
  const wait = Math.max(0, last + THROTTLE_MS - Date.now());
  timer = setTimeout(() => { timer = null; last = Date.now(); fetchTicket(); }, wait);
}

function relevant(msg) {
  const d = msg.data || {};
  if (d.ticket_id === id) return true;
  if (!ticket || ticket.status !== "waiting") return false;
  // Others of my service leaving the queue (called, transferred away, …) change how many are ahead.
  return d.service === ticket.service || d.from_service === ticket.service;
}

let conn = null;
function onStatus(s) {
  if (s === conn) return;
  const was = conn;
  conn = s;
  const c = $("conn");
  c.className = s === "down" ? "tr-conn down" : "tr-conn";
  c.textContent = s === "down" ? "连接中断，正在重连…" : s === "live" ? "● 实时更新中" : "连接中…";
  if (s === "live" && was === "down") refresh();   // back after a gap: the ticket may have moved
}

fetchTicket();
stream = connectStream({
  hall, topics: ["ticket"],
  onSnapshot: () => refresh(),
  onEvent: (msg) => { if (relevant(msg)) refresh(); },
  onStatus,
});
