// The clerk's terminal: log in, sign in to a window, call and serve visitors with buttons or keys.
// AB posts (AB岗): 离岗 (A: step away, with a reason) leaves the window with its queue and any
// visitor in service for B; when the server asks this clerk to cover (post.cover_needed names them
// as `asked`: B, or a standby clerk when B cannot come) or to staff a tidal window it opened
// (tidal.opened / tidal.reassigned name them as `clerk`), a notice with
// one button (C) takes that window. A window's card says 接岗 / 回岗 where cover applies.

import { api, ApiError, errorSentence, fmtWait } from "/static/api.js";
import { connectStream, connectionBadge } from "/static/stream.js";

const hall = document.body.dataset.hall;
const H = encodeURIComponent(hall);
const $ = (id) => document.getElementById(id);
const KEY = `hall.clerk.${hall}`;

const STATES = { closed: "未签到", idle: "空闲", calling: "叫号中", serving: "办理中", paused: "暂停服务" };
const CHANNELS = { walk_in: "现场取号", id_card: "身份证", ankang: "安康码", appointment: "预约", mobile: "手机取号" };
const PRIORITIES = { normal: "普通", green: "绿色通道", appointment: "预约优先", transferred: "转办优先" };
const TICKET_STATES = { called: "已叫号，等候到窗", calling: "已叫号，等候到窗", serving: "办理中" };
// which window states each action is offered in (the server decides; this only greys buttons out)
const ALLOWED = {
  "call-next": ["idle", "serving"], recall: ["calling"], "no-show": ["calling"], start: ["calling"],
  finish: ["serving"], transfer: ["serving"], pause: ["idle"], resume: ["paused"],
  "sign-out": ["idle", "paused", "calling", "serving"], "step-away": ["idle", "paused", "calling", "serving"],
};
const SHORTCUTS = { F1: "call-next", " ": "call-next", r: "recall", n: "no-show", s: "start", f: "finish",
                    t: "transfer", p: "pause", u: "resume", o: "sign-out", a: "step-away" };
const PAUSE_REASONS = ["临时离开", "业务咨询", "系统故障", "会议培训", "用餐休息"];
const AWAY_REASONS = ["临时离开", "业务请示", "取送材料", "身体不适", "会议培训"];

let session = load();       // {token, username, display_name, window}
let services = [];
let win = null;             // this window's view from GET /windows
let current = null;         // {id, number, service, status, channel?, priority?}
let busy = false;
let clockOffset = 0;
let stream = null;
let calls = [];             // windows this clerk is asked to take: [{window, name, text, how}]

function load() { try { return JSON.parse(sessionStorage.getItem(KEY)) || {}; } catch { return {}; } }
function save() { sessionStorage.setItem(KEY, JSON.stringify(session)); }

function show(view) {
  for (const v of ["login", "pick", "desk"]) $(v).hidden = v !== view;
  $("state").hidden = view !== "desk";
}

function call(path, opts = {}) { return api(path, { ...opts, token: session.token }); }

function fail(err) {
  if (err instanceof ApiError && err.status === 401) {
    session = {};
    save();
    calls = [];
    renderCalls();
    show("login");
  }
  showError(errorSentence(err));
}

let msgTimer = null;
function showError(text) { $("info").hidden = true; $("error").textContent = text; $("error").hidden = false; fade(); }
function showInfo(text) { $("error").hidden = true; $("info").textContent = text; $("info").hidden = false; fade(); }
function clearMessages() { $("error").hidden = true; $("info").hidden = true; }
function fade() { clearTimeout(msgTimer); msgTimer = setTimeout(clearMessages, 8000); }

// ---------------------------------------------------------------- login and window choice
$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  try {
    const r = await api("/auth/login", { method: "POST", body: { username, password } });
    session = { token: r.token, username: r.username || username, display_name: r.display_name || username };
    save();
    $("password").value = "";
    clearMessages();
    await pickWindow();
  } catch (err) {
    $("password").value = "";
    showError(errorSentence(err));
  }
});

// How this clerk takes a window: "cover" where the window was left with its state (A stepped away)
// or where A comes back to B; else "sign-in".
function takeHow(w) {
  const p = w.post || {};
  const me = session.username;
  if (me !== p.a && me !== p.b) return "sign-in";
  if (!p.on_duty && w.state !== "closed") return "cover";
  if (me === p.a && p.on_duty && p.on_duty === p.b) return "cover";
  return "sign-in";
}

async function pickWindow() {
  show("pick");
  $("who").textContent = `${session.display_name || session.username} · 请选择窗口`;
  if (!stream) startStream();   // notices to cover reach this clerk wherever they are
  if (!services.length) await refreshServices();
  let list;
  try { list = await api(`/halls/${H}/windows`); } catch (err) { fail(err); return; }
  updateCalls(list);
  $("windows").replaceChildren(...list.map((w) => {
    const b = document.createElement("button");
    b.type = "button";
    const p = w.post || {};
    b.className = "win" + (p.a === session.username || p.b === session.username ? " mine" : "");
    b.dataset.window = w.window;
    const how = takeHow(w);
    b.dataset.how = how;
    let duty = w.clerk ? `在岗：${w.clerk.name}${p.covering ? "（B岗代岗）" : ""}` : STATES[w.state] || w.state;
    if (!p.on_duty && p.away_reason) duty = `暂离：${p.away_reason}`;
    if (w.tidal_state && w.tidal_state.open && !w.clerk) duty = "潮汐窗口临时开放，待到岗";
    const role = p.a === session.username ? " · 我的A岗" : p.b === session.username ? " · 我的B岗" : "";
    b.innerHTML = `<div class="n"></div><div class="s"></div>`;
    b.querySelector(".n").textContent = w.name;
    b.querySelector(".s").textContent = `${duty}${role}`;
    if (how === "cover") {
      const tag = document.createElement("div");
      tag.className = "take";
      tag.textContent = p.a === session.username ? "回岗" : "接岗";
      b.append(tag);
    }
    b.addEventListener("click", () => take(w.window, how, w.name));
    return b;
  }));
}

async function take(number, how = "sign-in", name = "") {
  try {
    await call(`/halls/${H}/windows/${encodeURIComponent(number)}/${how}`, { method: "POST" });
    session.window = number;
    save();
    clearMessages();
    calls = calls.filter((c) => c.window !== number);
    renderCalls();
    await openDesk();
    if (how === "cover") {
      const back = win && win.post.a === session.username;
      showInfo(`${back ? "已回岗" : "已接岗"}：${name || (win ? win.name : number + "号窗口")}`);
    }
  } catch (err) { fail(err); }
}

// ---------------------------------------------------------------- asked to take a window
function callsFrom(list) {
  const me = session.username;
  const out = [];
  for (const w of list) {
    const p = w.post || {};
    if (p.on_duty || !me) continue;
    if (p.cover_asked === me) {
      out.push({ window: w.window, name: w.name, how: "cover", text: `${w.name}A岗离岗，请接岗` });
    } else if (w.tidal_state && w.tidal_state.open && w.tidal_state.clerk === me) {
      const names = (w.tidal_state.services || []).map(serviceName).join("、");
      out.push({ window: w.window, name: w.name, how: p.a === me || p.b === me ? takeHow(w) : "sign-in",
                 text: `${w.name}临时开放${names ? "（" + names + "）" : ""}，请到岗` });
    }
  }
  return out;
}

function updateCalls(list) {
  calls = callsFrom(list);
  renderCalls();
}

function renderCalls() {
  const box = $("calls");
  const shown = session.token ? calls.filter((c) => c.window !== session.window) : [];
  box.hidden = shown.length === 0;
  box.replaceChildren(...shown.map((c, i) => {
    const row = document.createElement("div");
    row.className = "call";
    row.dataset.window = c.window;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = c.text;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn danger";
    b.innerHTML = c.how === "cover" ? "立即接岗" : "立即到岗";
    if (i === 0) b.insertAdjacentHTML("beforeend", "<kbd>C</kbd>");
    b.addEventListener("click", () => take(c.window, c.how, c.name));
    row.append(text, b);
    return row;
  }));
}

function onCoverNeeded(d) {
  if ((d.asked || d.b) !== session.username || calls.some((c) => c.window === d.window)) return;
  calls.push({ window: d.window, name: d.window_name, how: "cover", text: `${d.window_name}A岗离岗，请接岗` });
  renderCalls();
}

let callsTimer = null;
function refreshCallsSoon() {
  if (callsTimer) return;      // at most one refresh in flight per 300 ms, however busy the hall
  callsTimer = setTimeout(async () => {
    callsTimer = null;
    if (!$("pick").hidden) { await pickWindow(); return; }   // the cards show who is where: keep them current
    try { updateCalls(await api(`/halls/${H}/windows`)); } catch { /* the next event tries again */ }
  }, 300);
}

$("logout").addEventListener("click", () => { session = {}; save(); calls = []; renderCalls(); show("login"); });

// ---------------------------------------------------------------- the desk
async function openDesk() {
  show("desk");
  await refreshServices();
  await refreshWindow();
  if (!stream) startStream();
}

async function refreshWindow() {
  let list;
  try { list = await api(`/halls/${H}/windows`); } catch (err) { fail(err); return; }
  updateCalls(list);
  win = list.find((w) => w.window === session.window) || null;
  if (!win || win.post.on_duty !== session.username) {  // signed out elsewhere
    session.window = undefined;
    save();
    const p = win ? win.post : {};
    if (p.on_duty && p.on_duty === p.a && p.b === session.username) showInfo(`${win.name}A岗已回岗，窗口已交还`);
    else if (p.on_duty && p.on_duty !== session.username) showError(`${win.name}已由其他工作人员签到`);
    else if (win && win.tidal_state && !win.tidal_state.open) showInfo(`${win.name}潮汐窗口已关闭，您已回到备勤`);
    await pickWindow();
    return;
  }
  const t = win.current_ticket;
  if (!t) current = null;
  else if (!current || current.id !== t.id || current.status !== t.status) {
    current = { ...t };
    loadDetails(t);
  }
  renderDesk();
  renderQueue();
}

async function loadDetails(t) {
  // channel, priority and the masked name (张*三, staff only) come from the staff ticket list
  try {
    const rows = await call(`/halls/${H}/tickets?status=${encodeURIComponent(t.status)}&limit=100`);
    const row = rows.find((r) => r.id === t.id);
    if (row && current && current.id === t.id) {
      current.channel = row.channel;
      current.priority = row.priority;
      current.masked_name = row.masked_name || null;
      renderDesk();
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) fail(err);
  }
}

function serviceName(code) { const s = services.find((x) => x.code === code); return s ? s.name : code; }

function renderDesk() {
  if (!win) return;
  const clerk = win.clerk ? `${win.clerk.name}（${win.clerk.staff_no || ""}）` : session.display_name;
  const ts = win.tidal_state;
  const extra = [
    win.post.covering ? "B岗代岗" : "",
    ts && ts.open ? `潮汐窗口临时开放：${(ts.services || []).map(serviceName).join("、")}` : "",
    ts && ts.closing ? "潮汐窗口即将关闭：办完当前群众后自动回到备勤" : "",
  ].filter(Boolean);
  $("who").textContent = [`${win.name} · ${clerk}`, ...extra].join(" · ");
  const st = $("state");
  st.className = `state ${win.state}`;
  st.textContent = win.state === "paused" && win.pause_reason ? `暂停服务：${win.pause_reason}` : STATES[win.state] || win.state;
  document.body.dataset.state = win.state;
  const num = $("cur-number");
  if (current) {
    num.textContent = current.number;
    num.classList.remove("none");
    $("cur-status").textContent = TICKET_STATES[current.status] || current.status;
    $("cur-service").textContent = serviceName(current.service);
    $("cur-channel").textContent = current.channel ? CHANNELS[current.channel] || current.channel : "…";
    $("cur-priority").textContent = current.priority ? PRIORITIES[current.priority] || current.priority : "…";
    $("cur-name").textContent = current.masked_name || "—（现场取号无姓名）";
  } else {
    num.textContent = "无";
    num.classList.add("none");
    for (const id of ["cur-status", "cur-service", "cur-channel", "cur-priority", "cur-name"]) $(id).textContent = "—";
    $("cur-status").textContent = win.state === "paused" ? "暂停服务" : "等待叫号";
  }
  for (const b of document.querySelectorAll("#controls [data-action]")) {
    b.disabled = busy || !ALLOWED[b.dataset.action].includes(win.state);
  }
}

function mine() {
  if (!win) return [];
  const codes = win.serving || win.services;  // a tidal window serves the services it took
  return codes.includes("*") ? services : services.filter((s) => codes.includes(s.code));
}

function renderQueue() {
  const rows = mine();
  $("queue").replaceChildren(...rows.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.service = s.code;
    if (!s.open) tr.className = "closed";
    const cells = [s.name, String(s.waiting), s.open ? fmtWait(s.est_wait_s) : "未到办理时间"];
    cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c; if (i === 1) td.className = "n"; tr.append(td); });
    return tr;
  }));
  $("queue-total").textContent = String(rows.reduce((n, s) => n + s.waiting, 0));
}

async function refreshServices() {
  try { services = await api(`/halls/${H}/services`); renderQueue(); renderDesk(); } catch (err) { fail(err); }
}
let refreshTimer = null;
function refreshSoon() { clearTimeout(refreshTimer); refreshTimer = setTimeout(refreshServices, 400); }

// ---------------------------------------------------------------- actions
async function act(action) {
  if (busy || !win) return;
  if (!ALLOWED[action].includes(win.state)) return;
  if (action === "pause") { openPause(); return; }
  if (action === "step-away") { openAway(); return; }
  if (action === "transfer") { openTransfer(); return; }
  await run(action);
}

async function run(action, body) {
  busy = true;
  renderDesk();
  const path = `/halls/${H}/windows/${encodeURIComponent(session.window)}/${action}`;
  try {
    const r = await call(path, { method: "POST", body });
    clearMessages();
    if (action === "call-next") {
      if (r && r.ticket) {
        current = { ...r.ticket };
        win.state = "calling";
        showInfo(`已叫号：${r.ticket.number}，请${win.name}准备接待`);
        loadDetails(r.ticket);
      } else showInfo("当前没有等候的号");
    } else if (action === "sign-out" || action === "step-away") {
      const name = win.name;
      session.window = undefined;
      save();
      busy = false;
      await pickWindow();
      if (action === "step-away") showInfo(`已离岗（${body.reason}），B岗已收到接岗通知；回来后请点击${name}的「回岗」`);
      return;
    }
  } catch (err) {
    fail(err);
  } finally {
    busy = false;
  }
  renderDesk();
  await refreshWindow();
}

for (const b of document.querySelectorAll("#controls [data-action]")) b.addEventListener("click", () => act(b.dataset.action));

function modalOpen() { return !$("pause-dialog").hidden || !$("transfer-dialog").hidden || !$("away-dialog").hidden; }

document.addEventListener("keydown", (ev) => {
  if (ev.repeat || ev.ctrlKey || ev.altKey || ev.metaKey) return;
  if (modalOpen()) {
    if (ev.key === "Escape") closeModals();
    return;
  }
  const tag = (ev.target && ev.target.tagName) || "";
  if (tag === "INPUT" || tag === "TEXTAREA") return;
  const first = $("calls").hidden ? null : calls.find((c) => c.window !== session.window);
  if (ev.key.toLowerCase() === "c" && first) {  // C: take the window this clerk is asked to take
    ev.preventDefault();
    take(first.window, first.how, first.name);
    return;
  }
  if ($("desk").hidden) return;
  const action = SHORTCUTS[ev.key.length === 1 ? ev.key.toLowerCase() : ev.key];
  if (!action) return;
  ev.preventDefault();
  act(action);
});

// pause: a reason is required
$("reasons").replaceChildren(...PAUSE_REASONS.map((r) => {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "btn ghost";
  b.textContent = r;
  b.addEventListener("click", () => { $("pause-reason").value = r; $("pause-reason").focus(); });
  return b;
}));
function openPause() { $("pause-reason").value = ""; $("pause-dialog").hidden = false; $("pause-reason").focus(); }
async function confirmPause() {
  const reason = $("pause-reason").value.trim();
  if (!reason) { showError("请填写暂停原因"); $("pause-reason").focus(); return; }
  closeModals();
  await run("pause", { reason });
}
$("pause-ok").addEventListener("click", confirmPause);
$("pause-reason").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); confirmPause(); } });
$("pause-cancel").addEventListener("click", closeModals);

function openTransfer() {
  const targets = services.filter((s) => !current || s.code !== current.service);
  $("transfer-services").replaceChildren(...targets.map((s) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn";
    b.dataset.service = s.code;
    b.textContent = `${s.name}（等候${s.waiting}人）`;
    b.addEventListener("click", async () => { closeModals(); await run("transfer", { service: s.code }); });
    return b;
  }));
  $("transfer-dialog").hidden = false;
}
$("transfer-cancel").addEventListener("click", closeModals);
function closeModals() { for (const id of ["pause-dialog", "transfer-dialog", "away-dialog"]) $(id).hidden = true; }

// step away (离岗): a reason is required
$("away-reasons").replaceChildren(...AWAY_REASONS.map((r) => {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "btn ghost";
  b.textContent = r;
  b.addEventListener("click", () => { $("away-reason").value = r; $("away-reason").focus(); });
  return b;
}));
function openAway() { $("away-reason").value = ""; $("away-dialog").hidden = false; $("away-reason").focus(); }
async function confirmAway() {
  const reason = $("away-reason").value.trim();
  if (!reason) { showError("请填写离岗原因"); $("away-reason").focus(); return; }
  closeModals();
  await run("step-away", { reason });
}
$("away-ok").addEventListener("click", confirmAway);
$("away-reason").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); confirmAway(); } });
$("away-cancel").addEventListener("click", closeModals);

// ---------------------------------------------------------------- stream and clock
function startStream() {
  stream = connectStream({
    hall,
    topics: ["ticket", "window", "post", "tidal"],
    onStatus: connectionBadge($("conn")),
    onSnapshot(msg) {
      const d = msg.data || {};
      if (typeof d.now_ms === "number") { clockOffset = d.now_ms - Date.now(); tickClock(); }
      document.body.dataset.synced = "1";
      if (Array.isArray(d.services)) { services = d.services; renderQueue(); }
      if (session.window) refreshWindow();
      else if (session.token) refreshCallsSoon();
    },
    onEvent(msg) {
      const d = msg.data || {};
      if (msg.type.startsWith("ticket.") && typeof d.waiting === "number" && d.service) {
        const s = services.find((x) => x.code === d.service);
        if (s) { s.waiting = d.waiting; renderQueue(); }
      }
      if (msg.type.startsWith("ticket.")) refreshSoon();
      if (msg.type === "window.state" && d.window === session.window && !busy) refreshWindow();
      if (msg.type === "post.cover_needed") onCoverNeeded(d);
      if (msg.type.startsWith("post.") || msg.type.startsWith("tidal.") || msg.type === "window.state") {
        if (session.token) refreshCallsSoon();
      }
      if (msg.type.startsWith("tidal.") && d.window === session.window && !busy) refreshWindow();
    },
  });
}

function tickClock() {
  const d = new Date(Date.now() + clockOffset);
  $("clock").textContent = d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", second: "2-digit",
                                                           hour12: false, timeZone: "Asia/Shanghai" });
}
setInterval(tickClock, 1000);
tickClock();

// ---------------------------------------------------------------- start
(async function init() {
  if (!session.token) { show("login"); $("username").focus(); return; }
  try {
    const me = await call("/auth/me");
    session.username = me.username;
    session.display_name = me.display_name || me.username;
    save();
  } catch (err) {
    session = {};
    save();
    show("login");
    if (!(err instanceof ApiError && err.status === 401)) showError(errorSentence(err));
    return;
  }
  if (session.window) await openDesk();
  else await pickWindow();
})();
