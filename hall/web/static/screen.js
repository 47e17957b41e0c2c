// The hall screen (/screen/hall/{hall}): the current call-out, the last call-outs, waiting counts
// and estimated waits per service, a clock, a scrolling notice and a status line. Call-outs are
// spoken through the one announcer of this screen (speech.js). Tidal windows (潮汐窗口) the hall
// opens are shown in a banner above the notice line ("7号窗口临时开放：不动产登记") and spoken in the
// same queue as call-outs; a service whose wait alert (等待预警) is raised is marked 等候较长.
//
// URL options: ?repeat=N (times each call-out is spoken, default 2), ?speak_ms=M (how long a
// call-out is held when there is no Chinese voice, default 1500), ?n=K (call-outs listed, default 8),
// ?notice=TEXT (the scrolling notice).

import { connectStream } from "/static/stream.js";
import { api, fmtWait } from "/static/api.js";
import { createAnnouncer } from "/static/speech.js";

const hall = document.body.dataset.hall;
const params = new URLSearchParams(location.search);
const intParam = (name, dflt, min, max) => {
  const v = parseInt(params.get(name) ?? "", 10);
  return Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : dflt;
};
const REPEAT = intParam("repeat", 2, 1, 5);
const SPEAK_MS = intParam("speak_ms", 1500, 0, 600000);
const RECENT_N = intParam("n", 8, 1, 20);
const STALE_MS = 120000;          // replayed call-outs older than this are shown, not spoken
const SERVICES_REFRESH_MS = 30000;
const NOTICE = params.get("notice") ||
  "温馨提示：请留意屏幕叫号及语音播报，过号请到咨询服务台重新取号；请妥善保管身份证件及随身物品；" +
  "大厅提供免费复印、Wi-Fi、老年人绿色通道及帮办代办服务；办事遇到问题请拨打 12345 政务服务便民热线。";

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

// --- state -----------------------------------------------------------------------------------
const services = new Map();       // code -> {code, name, waiting, est_wait_s, open}
let callouts = [];                // newest first: {ticket, ticket_id, window, window_name, recall}
let clockOffset = 0;              // hall clock minus this machine's clock (ms)
let connection = "connecting";
let voiceState = "checking";
const tidal = new Map();          // window -> announcement of an open tidal window
const alerts = new Set();         // services whose wait alert is raised

const SERVER_AUDIO = params.get("audio") === "server";
const announcer = createAnnouncer({
  repeat: REPEAT, speakMs: SPEAK_MS,
  audioUrl: SERVER_AUDIO
    ? (text) => `/api/v1/halls/${encodeURIComponent(hall)}/announce.wav?text=${encodeURIComponent(text)}`
    : null,
  onVoice: (v) => { voiceState = v; renderStatus(); },
});
window.hallAnnouncer = announcer.state;

// --- rendering -------------------------------------------------------------------------------
function renderCurrent(flash) {
  const c = callouts[0];
  $("current-number").textContent = c ? c.ticket : "—";
  $("current-window").textContent = c ? c.window_name : "—";
  $("current-recall").hidden = !(c && c.recall > 0);
  const box = $("current");
  box.classList.toggle("empty", !c);
  if (flash) {
    box.classList.remove("flash");
    void box.offsetWidth;          // restart the animation
    box.classList.add("flash");
  }
}

function renderRecent() {
  const list = $("recent");
  list.replaceChildren();
  const rest = callouts.slice(1, RECENT_N + 1);
  for (const c of rest) {
    const li = el("li", "hs-recent-item");
    li.append(el("span", "hs-recent-number", c.ticket), el("span", "hs-recent-arrow", "→"),
              el("span", "hs-recent-window", c.window_name));
    list.append(li);
  }
  for (let i = rest.length; i < RECENT_N; i++) list.append(el("li", "hs-recent-item blank"));
}

function renderServices() {
  const body = $("services");
  body.replaceChildren();
  for (const s of services.values()) {
    const tr = el("tr", [s.open ? "" : "closed", alerts.has(s.code) ? "alert" : ""].join(" ").trim());
    tr.append(el("td", "svc-name", s.name));
    const w = el("td", "svc-waiting");
    w.append(el("b", "", String(s.waiting ?? 0)), el("small", "", " 人"));
    tr.append(w);
    const est = el("td", "svc-est", s.open === false ? "暂停办理" : fmtWait(s.est_wait_s));
    if (s.open !== false && alerts.has(s.code)) est.prepend(el("span", "svc-alert", "等候较长"));
    tr.append(est);
    body.append(tr);
  }
}

function renderStatus() {
  const parts = [];
  if (connection === "down") parts.push("⚠ 连接中断，正在重连…");
  else if (connection === "connecting") parts.push("连接中…");
  else parts.push("实时连接正常");
  if (voiceState === "none" && SERVER_AUDIO) parts.push("本机无中文语音，由服务器播报");
  else if (voiceState === "none") parts.push("本机无中文语音，仅显示（加 ?audio=server 由服务器播报）");
  else if (voiceState === "blocked") parts.push("浏览器未允许自动播报，请点击屏幕启用语音");
  else if (voiceState === "checking") parts.push("正在检测语音…");
  else if (voiceState === "ok") parts.push(`语音播报已开启（每号播报 ${REPEAT} 遍）`);
  const st = $("status");
  st.textContent = parts.join("　|　");
  if (connection === "live") st.prepend(el("span", "ok", "● "));
  st.classList.toggle("down", connection === "down");
  document.body.classList.toggle("offline", connection === "down");
}

function renderTidal(flash) {
  const box = $("tidal");
  const items = [...tidal.values()];
  box.hidden = items.length === 0;
  box.replaceChildren(el("span", "hs-tidal-tag", "潮汐窗口"), ...items.map((t) => el("span", "hs-tidal-item", t)));
  if (flash) {
    box.classList.remove("flash");
    void box.offsetWidth;
    box.classList.add("flash");
  }
}

const WEEK = ["日", "一", "二", "三", "四", "五", "六"];
const pad = (n) => String(n).padStart(2, "0");
function renderClock() {
  // The hall's time zone is China Standard Time (UTC+8) for every hall this system serves.
  const t = new Date(Date.now() + clockOffset + 8 * 3600 * 1000);
  $("clock-time").textContent = `${pad(t.getUTCHours())}:${pad(t.getUTCMinutes())}:${pad(t.getUTCSeconds())}`;
  $("clock-date").textContent =
    `${t.getUTCFullYear()}年${t.getUTCMonth() + 1}月${t.getUTCDate()}日 星期${WEEK[t.getUTCDay()]}`;
}

function hallNow() { return Date.now() + clockOffset; }

// --- data ------------------------------------------------------------------------------------
function setServices(list) {
  for (const s of list) {
    const old = services.get(s.code) || {};
    services.set(s.code, { ...old, ...s });
  }
  renderServices();
}

async function refreshServices() {
  try { setServices(await api(`/halls/${encodeURIComponent(hall)}/services`)); } catch { /* next time */ }
}

let refreshTimer = null;
function refreshServicesSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refreshServices(); }, 1000);
}

function onSnapshot(msg) {
  const d = msg.data || {};
  if (typeof d.now_ms === "number") clockOffset = d.now_ms - Date.now();
  callouts = (d.callouts || []).slice(0, RECENT_N + 1);
  tidal.clear();
  for (const t of d.tidal || []) if (t.announcement) tidal.set(t.window, t.announcement);
  alerts.clear();
  for (const a of d.wait_alerts || []) alerts.add(a.service);
  if (d.services) { services.clear(); setServices(d.services); } else renderServices();
  renderTidal(false);
  renderCurrent(false);
  renderRecent();
  renderClock();
}

function onCalled(msg) {
  const d = msg.data;
  callouts = [d, ...callouts.filter((c) => c.ticket_id !== d.ticket_id)].slice(0, RECENT_N + 1);
  renderCurrent(true);
  renderRecent();
  if (fresh(msg)) announcer.announce(d.announcement);
}

function fresh(msg) {
  const at = Date.parse(msg.at);
  return !Number.isFinite(at) || hallNow() - at < STALE_MS;
}

function onTidal(msg) {
  const d = msg.data;
  if (msg.type === "tidal.closed") { tidal.delete(d.window); renderTidal(false); return; }
  if (!d.announcement) return;
  tidal.set(d.window, d.announcement);
  renderTidal(true);
  if (fresh(msg)) announcer.announce(d.announcement);
}

function onEvent(msg) {
  const d = msg.data || {};
  if (msg.type === "ticket.called") onCalled(msg);
  if (msg.type === "tidal.opened" || msg.type === "tidal.changed" || msg.type === "tidal.closed") onTidal(msg);
  if (msg.type === "wait.alert" || msg.type === "wait.cleared") {
    if (msg.type === "wait.alert") alerts.add(d.service); else alerts.delete(d.service);
    renderServices();
  }
  if (msg.type.startsWith("ticket.") && d.service && typeof d.waiting === "number" && services.has(d.service)) {
    services.get(d.service).waiting = d.waiting;
    renderServices();
  }
  if (msg.type === "ticket.transferred" || msg.type === "ticket.expired" || msg.type === "ticket.no_show"
      || msg.type.startsWith("service.") || msg.type.startsWith("tidal.") || msg.type.startsWith("wait.")) {
    refreshServicesSoon();
  }
}

function onStatus(s) {
  connection = s;
  renderStatus();
}

// --- start -----------------------------------------------------------------------------------
// Two copies side by side scroll by half their width: the line never runs empty.
$("notice").replaceChildren(el("span", "", NOTICE), el("span", "", NOTICE));
$("notice").style.animationDuration = `${Math.max(20, NOTICE.length * 0.35)}s`;
$("current").addEventListener("animationend", () => $("current").classList.remove("flash"));
$("tidal").addEventListener("animationend", () => $("tidal").classList.remove("flash"));
renderCurrent(false);
renderRecent();
renderClock();
renderStatus();
setInterval(renderClock, 1000);
setInterval(refreshServices, SERVICES_REFRESH_MS);
// ?device=screen-01: this page is a registered hall screen (the server raises 黑屏 when it is gone)
connectStream({ hall, topics: ["ticket", "service", "tidal", "wait"], device: params.get("device"),
                onSnapshot, onEvent, onStatus });
