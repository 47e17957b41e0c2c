// The window screen (/screen/window/{hall}/{window}), above a counter: the number now served, the
// window's name, the clerk on duty (display name and staff number, never a full name) and the
// window's state. State and number follow the stream at once; the clerk comes from
// GET /windows, fetched again on every window.state event of this window.

import { connectStream } from "/static/stream.js";
import { api } from "/static/api.js";

const hall = document.body.dataset.hall;
const number = document.body.dataset.window;
const $ = (id) => document.getElementById(id);

const STATE_TEXT = { serving: "服务中", calling: "叫号中", idle: "空闲", paused: "暂停服务", closed: "未开放" };

let view = { state: "closed", ticket: null, reason: null, clerk: null, name: null, onB: false, services: [] };
let serviceNames = {};
let connection = "connecting";
let clockOffset = 0;

function render() {
  $("window-name").textContent = view.name || `${number}号窗口`;
  document.title = `${view.name || number + "号窗口"} · 窗口屏`;
  const names = view.services.map((c) => serviceNames[c] || c);
  $("window-services").textContent = names.length ? `办理业务：${names.join("、")}` : "";

  const st = $("state");
  const text = STATE_TEXT[view.state] || view.state;
  st.textContent = view.state === "paused" && view.reason ? `${text}（${view.reason}）` : text;
  st.className = `ws-state ${view.state}`;

  const showTicket = (view.state === "serving" || view.state === "calling") && view.ticket;
  $("number").textContent = showTicket ? view.ticket : "—";
  $("number").classList.toggle("none", !showTicket);
  $("number-label").textContent = view.state === "calling" ? "正在呼叫" : "当前办理";

  const c = view.clerk;
  $("clerk").classList.toggle("vacant", !c);
  $("clerk-name").textContent = c ? c.name : "暂无人员";
  $("clerk-no").textContent = c && c.staff_no ? `工号 ${c.staff_no}` : "";
  $("avatar").textContent = c && c.name ? [...c.name][0] : "岗";
  $("duty").hidden = !(c && view.onB);

  const s = $("status");
  s.textContent = connection === "down" ? "连接中断，正在重连…" : connection === "live" ? "● 实时" : "连接中…";
  s.className = connection === "down" ? "down" : connection === "live" ? "live" : "";
}

function renderClock() {
  const t = new Date(Date.now() + clockOffset + 8 * 3600 * 1000);
  const p = (n) => String(n).padStart(2, "0");
  $("clock").textContent = `${t.getUTCMonth() + 1}月${t.getUTCDate()}日 ${p(t.getUTCHours())}:${p(t.getUTCMinutes())}`;
}

function flash() {
  const b = document.body;
  b.classList.remove("flash");
  void b.offsetWidth;
  b.classList.add("flash");
}

async function fetchWindow() {
  try {
    const list = await api(`/halls/${encodeURIComponent(hall)}/windows`);
    const w = list.find((x) => x.window === number);
    if (!w) return;
    const post = w.post || {};
    view = {
      state: w.state, ticket: w.current_ticket ? w.current_ticket.number : null, reason: w.pause_reason,
      clerk: w.clerk || null, name: w.name, services: w.services || [],
      onB: Boolean(post.on_duty && post.b && post.on_duty === post.b),
    };
    render();
  } catch { /* the stream tells us when to try again */ }
}

let fetchTimer = null;
function fetchSoon() {
  if (fetchTimer) return;
  fetchTimer = setTimeout(() => { fetchTimer = null; fetchWindow(); }, 150);
}

async function fetchServiceNames() {
  try {
    const list = await api(`/halls/${encodeURIComponent(hall)}/services`);
    serviceNames = Object.fromEntries(list.map((s) => [s.code, s.name]));
    render();
  } catch { /* names stay codes */ }
}

function onSnapshot(msg) {
  const d = msg.data || {};
  if (typeof d.now_ms === "number") clockOffset = d.now_ms - Date.now();
  const w = (d.windows || []).find((x) => x.window === number);
  if (w) {
    view = { ...view, state: w.state, ticket: w.current_ticket, reason: w.pause_reason, clerk: w.clerk,
             name: w.name, services: w.services || view.services };
    render();
  }
  renderClock();
  fetchWindow();
}

function onEvent(msg) {
  const d = msg.data || {};
  if (msg.type.startsWith("post.")) { fetchSoon(); return; }   // A/B post changes (issue #4)
  if (d.window !== number) return;
  if (msg.type === "window.state") {
    view = { ...view, state: d.state, reason: d.state === "paused" ? (d.reason || view.reason) : null };
    if ("ticket" in d) view.ticket = d.ticket;
    if (d.window_name) view.name = d.window_name;
    render();
    fetchSoon();
  } else if (msg.type === "ticket.called") {
    view = { ...view, state: "calling", ticket: d.ticket };
    render();
    flash();
  } else if (msg.type === "ticket.started") {
    view = { ...view, state: "serving", ticket: d.ticket };
    render();
  } else if (msg.type === "ticket.finished" || msg.type === "ticket.no_show" || msg.type === "ticket.transferred") {
    if (view.ticket === d.ticket) { view = { ...view, ticket: null }; render(); }
  }
}

function onStatus(s) {
  connection = s;
  render();
}

render();
renderClock();
setInterval(renderClock, 1000);
fetchServiceNames();
connectStream({ hall, topics: ["window", "ticket", "post"], onSnapshot, onEvent, onStatus });
