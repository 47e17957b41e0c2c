// The window screen (/screen/window/{hall}/{window}), above a counter: the number now served, the
// window's name, the clerk on duty (display name and staff number, never a full name) and the
// window's state. State and number follow the stream at once; the clerk comes from
// GET /windows, fetched again on every window.state event of this window. AB posts and tidal
// windows (#4): 由B岗代岗 while B covers, 暂离 while the clerk stepped away (the number in service
// stays), 窗口临时开放 for a tidal window the controller opened before its clerk arrives, and the
// services a tidal window takes.

import { connectStream } from "/static/stream.js";
import { api } from "/static/api.js";

const hall = document.body.dataset.hall;
const number = document.body.dataset.window;
const $ = (id) => document.getElementById(id);

const STATE_TEXT = { serving: "服务中", calling: "叫号中", idle: "空闲", paused: "暂停服务", closed: "未开放" };

let view = { state: "closed", ticket: null, reason: null, clerk: null, name: null, onB: false, services: [],
             away: null, tidal: null };
let serviceNames = {};
let connection = "connecting";
let clockOffset = 0;

function render() {
  $("window-name").textContent = view.name || `${number}号窗口`;
  document.title = `${view.name || number + "号窗口"} · 窗口屏`;
  const tidal = view.tidal && view.tidal.open ? view.tidal : null;
  const codes = tidal && tidal.services.length ? tidal.services : view.services;
  const names = codes.map((c) => serviceNames[c] || c);
  let services = names.length ? `办理业务：${names.join("、")}` : "";
  if (tidal) services = `临时开放 · ${services}`;
  if (view.tidal && view.tidal.closing) services = "本窗口即将关闭，请到其他窗口办理";
  $("window-services").textContent = services;

  const st = $("state");
  let text = STATE_TEXT[view.state] || view.state;
  let cls = view.state;
  if (view.state === "paused" && view.reason) text = `${text}（${view.reason}）`;
  if (!view.clerk && view.away) { text = "暂离"; cls = "away"; }               // stepped away: B is on the way
  else if (!view.clerk && tidal) { text = "窗口临时开放"; cls = "tidal"; }      // opened, clerk on the way
  st.textContent = text;
  st.className = `ws-state ${cls}`;
  document.body.dataset.state = cls;

  const showTicket = (view.state === "serving" || view.state === "calling") && view.ticket;
  $("number").textContent = showTicket ? view.ticket : "—";
  $("number").classList.toggle("none", !showTicket);
  $("number-label").textContent = view.state === "calling" ? "正在呼叫" : "当前办理";

  const c = view.clerk;
  $("clerk").classList.toggle("vacant", !c);
  $("clerk-name").textContent = c ? c.name : (view.away || tidal) ? "工作人员即将到岗" : "暂无人员";
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
      onB: Boolean(post.covering ?? (post.on_duty && post.b && post.on_duty === post.b)),
      away: !post.on_duty && post.away_reason ? post.away_reason : null, tidal: w.tidal_state || null,
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
    const post = w.post || {};
    view = { ...view, state: w.state, ticket: w.current_ticket, reason: w.pause_reason, clerk: w.clerk,
             name: w.name, services: w.services || view.services, onB: Boolean(post.covering),
             away: !post.on_duty && post.away_reason ? post.away_reason : null, tidal: w.tidal_state || null };
    render();
  }
  renderClock();
  fetchWindow();
}

function onEvent(msg) {
  const d = msg.data || {};
  if (msg.type.startsWith("post.")) { fetchSoon(); return; }   // A/B post changes (issue #4)
  if (msg.type.startsWith("tidal.")) { if (d.window === number) fetchSoon(); return; }
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
connectStream({ hall, topics: ["window", "ticket", "post", "tidal"], onSnapshot, onEvent, onStatus });
