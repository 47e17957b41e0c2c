// The facility staff's phone page (/staff/{hall}): the alarms assigned to me, accept (接单 = ack),
// add a note (备注 = comment), resolve (处理完成, with an optional note). Live: the stream's alarm topic
// brings every change; an alarm assigned to me comes to the top with a highlight (and a vibration /
// notification where the phone allows it); one resolved, closed or reassigned elsewhere leaves.
// The list itself always comes from GET /alarms?state=open&assignee=<me>, fetched again after each
// assignment to me and after every (re)connection's snapshot.

import { api, ApiError, errorSentence } from "/static/api.js";
import { connectStream, connectionBadge } from "/static/stream.js";

const hall = document.body.dataset.hall;
const H = encodeURIComponent(hall);
const $ = (id) => document.getElementById(id);
const KEY = `hall.staff.${hall}`;

const ALLOWED_ROLES = ["facility", "manager", "admin"];
const ROLE_NAMES = { clerk: "窗口工作人员", duty_officer: "值班人员", facility: "设施运维人员", manager: "大厅管理员",
                     admin: "系统管理员" };
const TYPES = {
  offline: "离线", paper_low: "纸张将尽", paper_out: "缺纸", jam: "卡纸", fault: "故障", disk_full: "磁盘将满",
  door_open_long: "柜门未关", door_unexpected: "柜门异常打开", door_jam: "柜门无法打开", temperature: "温度超限",
  humidity: "湿度超限", screen_dark: "屏幕黑屏", clock_skew: "时钟偏差", mqtt_rejected: "消息异常",
  pickup_guessing: "取件码多次输错", slot_mismatch: "格口不符", post_vacant: "空岗", wait_alert: "等待预警",
  alarm_flood: "报警泛滥",
  followup_overdue: "差评回访逾期",
  feed_down: "省平台推送中断",
  mqtt_down: "设备消息服务中断",
};
const SEVERITIES = { critical: "紧急", major: "重要", minor: "次要", warning: "提示" };
const STATES = { active: "待接单", acked: "已接单", cleared: "已恢复" };
const SOURCES = { device: "设备", post: "岗位", service: "业务", hall: "大厅" };
const FRESH_MS = 120_000;   // how long a new assignment stays highlighted (or until acted on)

let session = load();       // {token, username, display_name, role}
let alarms = [];            // my open alarms, newest assignment first
const fresh = new Map();    // alarm id -> time it was assigned to me (highlight)
const notes = new Map();    // alarm id -> [{by, text, at}]
const busy = new Set();     // alarm ids with a request in flight
let stream = null;
let clockOffset = 0;        // server clock minus this phone's clock (ages count on the server's time)

function load() { try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch { return {}; } }
function save() { localStorage.setItem(KEY, JSON.stringify(session)); }
function call(path, opts = {}) { return api(path, { ...opts, token: session.token }); }

function show(view) {
  for (const v of ["login", "denied", "mine"]) $(v).hidden = v !== view;
  document.body.dataset.view = view;
}

let msgTimer = null;
function showError(text) { $("info").hidden = true; $("error").textContent = text; $("error").hidden = false; fade(); }
function showInfo(text) { $("error").hidden = true; $("info").textContent = text; $("info").hidden = false; fade(); }
function clearMessages() { $("error").hidden = true; $("info").hidden = true; }
function fade() { clearTimeout(msgTimer); msgTimer = setTimeout(clearMessages, 8000); }

function fail(err) {
  if (err instanceof ApiError && err.status === 401) { signOut(); }
  showError(errorSentence(err));
}

function signOut() {
  session = {};
  save();
  alarms = [];
  fresh.clear();
  notes.clear();
  render();
  if (stream) { stream.close(); stream = null; }
  $("who").textContent = "设施运维 · 我的报警";
  show("login");
}

// ---------------------------------------------------------------- sign in
$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const username = $("username").value.trim();
  const password = $("password").value;
  // asked on a tap, as browsers require; new assignments then also arrive as a notification
  if ("Notification" in window && Notification.permission === "default") {
    try { Notification.requestPermission().catch(() => {}); } catch { /* not offered here */ }
  }
  try {
    const r = await api("/auth/login", { method: "POST", body: { username, password } });
    session = { token: r.token, username: r.username || username, display_name: r.display_name || "", role: r.role };
    save();
    $("password").value = "";
    clearMessages();
    enter();
  } catch (err) {
    $("password").value = "";
    showError(errorSentence(err));
  }
});
$("logout").addEventListener("click", signOut);
$("denied-logout").addEventListener("click", signOut);

function enter() {
  if (!ALLOWED_ROLES.includes(session.role)) {
    const role = ROLE_NAMES[session.role] || session.role;
    $("denied-text").textContent = `您当前登录的账号「${session.username}」是${role}，不能在此处理设备报警。` +
      "请使用设施运维人员账号登录。";
    $("who").textContent = `${session.display_name || session.username} · ${role}`;
    if (stream) { stream.close(); stream = null; }
    show("denied");
    return;
  }
  $("who").textContent = `${session.display_name || session.username} · 我的报警`;
  show("mine");
  render();
  if (!stream) startStream();
}

// ---------------------------------------------------------------- the list
async function refresh() {
  const me = session.username;
  if (!me) return;
  let list;
  try {
    list = await call(`/halls/${H}/alarms?state=open&assignee=${encodeURIComponent(me)}`);
  } catch (err) { fail(err); return; }
  if (session.username !== me) return;
  const order = new Map(alarms.map((a, i) => [a.id, i]));
  // keep the order the page has (new assignments on top); alarms not seen before go above the rest
  list.sort((a, b) => (order.get(a.id) ?? -1) - (order.get(b.id) ?? -1));
  alarms = list;
  render();
  for (const a of list) if (!notes.has(a.id)) loadNotes(a.id);
}

let refreshTimer = null;
function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 200);
}

async function loadNotes(id) {
  try {
    const a = await call(`/halls/${H}/alarms/${encodeURIComponent(id)}`);
    notes.set(id, a.comments || []);
    renderCard(id);
  } catch { /* the card still works without its notes */ }
}

function upsert(a, top = false) {
  const i = alarms.findIndex((x) => x.id === a.id);
  if (i >= 0) alarms[i] = a;
  else if (top) alarms.unshift(a);
  else alarms.push(a);
  render();
}

function drop(id, why) {
  const had = alarms.some((a) => a.id === id);
  alarms = alarms.filter((a) => a.id !== id);
  fresh.delete(id);
  if (had) { render(); if (why) showInfo(why); }
}

function title(a) {
  return `${a.device || a.subject} ${TYPES[a.type] || a.type}`;
}

function ageText(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((Date.now() + clockOffset - t) / 1000));
  if (s < 60) return "刚刚";
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}分钟前`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}小时${m % 60 ? (m % 60) + "分钟" : ""}前`;
  return `${Math.floor(h / 24)}天前`;
}

function hhmm(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "Asia/Shanghai" });
}

const cards = new Map();    // alarm id -> its <article>

function render() {
  const box = $("alarms");
  const now = Date.now();
  for (const [id, at] of fresh) if (now - at > FRESH_MS) fresh.delete(id);
  const keep = new Set(alarms.map((a) => a.id));
  for (const [id, el] of cards) if (!keep.has(id)) { el.remove(); cards.delete(id); }
  alarms.forEach((a, i) => {
    let el = cards.get(a.id);
    if (!el) { el = makeCard(a.id); cards.set(a.id, el); }
    if (box.children[i] !== el) box.insertBefore(el, box.children[i] || null);
    fill(el, a);
  });
  $("count").textContent = String(alarms.length);
  $("empty").hidden = alarms.length > 0;
}

function renderCard(id) {
  const a = alarms.find((x) => x.id === id);
  const el = cards.get(id);
  if (a && el) fill(el, a);
}

function makeCard(id) {
  const el = $("alarm-card").content.firstElementChild.cloneNode(true);
  el.dataset.id = id;
  el.querySelector('[data-action="ack"]').addEventListener("click", () => ack(id));
  el.querySelector('[data-action="comment"]').addEventListener("click", () => toggleForm(el, "comment"));
  el.querySelector('[data-action="resolve"]').addEventListener("click", () => toggleForm(el, "resolve"));
  for (const form of el.querySelectorAll("form")) {
    form.querySelector("[data-cancel]").addEventListener("click", () => { form.hidden = true; });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const text = form.querySelector("textarea").value.trim();
      if (form.dataset.form === "comment") comment(id, text, form);
      else resolve(id, text, form);
    });
  }
  return el;
}

function toggleForm(el, which) {
  for (const f of el.querySelectorAll("form")) {
    const open = f.dataset.form === which && f.hidden;
    f.hidden = !open;
    if (open) f.querySelector("textarea").focus();
  }
}

function fill(el, a) {
  el.className = `alarm sev-${a.severity}${fresh.has(a.id) ? " fresh" : ""}`;
  el.dataset.state = a.state;
  el.querySelector(".sev").textContent = SEVERITIES[a.severity] || a.severity;
  el.querySelector(".type").textContent = TYPES[a.type] || a.type;
  const st = el.querySelector(".st");
  st.textContent = STATES[a.state] || a.state;
  st.className = `st ${a.state}`;
  const d = a.detail || {};
  el.querySelector(".place").textContent = d.text || `${SOURCES[a.source] || a.source} ${a.subject}`;
  const extra = [];
  if (a.count > 1) extra.push(`重复${a.count}次`);
  if (a.escalation) extra.push(`已升级${a.escalation}次`);
  el.querySelector(".device").textContent =
    [`${SOURCES[a.source] || a.source} ${a.device || a.subject}`, ...extra].join(" · ");
  const age = el.querySelector(".age");
  age.textContent = `${hhmm(a.raised_at)} 报警 · ${ageText(a.raised_at)}`;
  age.dataset.raisedAt = a.raised_at;
  const list = notes.get(a.id) || [];
  el.querySelector(".notes").replaceChildren(...list.map((n) => {
    const li = document.createElement("li");
    li.textContent = `${hhmm(n.at)} ${n.by}：${n.text}`;
    return li;
  }));
  const working = busy.has(a.id);
  const ackBtn = el.querySelector('[data-action="ack"]');
  ackBtn.hidden = a.state !== "active";
  for (const b of el.querySelectorAll("button")) b.disabled = working;
}

setInterval(render, 30_000);   // the ages move on, and a highlight ends after FRESH_MS

// ---------------------------------------------------------------- actions
async function act(id, path, body, done) {
  if (busy.has(id)) return;
  busy.add(id);
  fresh.delete(id);
  renderCard(id);
  try {
    const r = await call(`/halls/${H}/alarms/${encodeURIComponent(id)}/${path}`, { method: "POST", body });
    clearMessages();
    busy.delete(id);
    if (r && r.state === "closed") drop(id);
    else if (r && r.assignee === session.username) upsert(r);
    else if (r) drop(id);
    if (done) done(r);
  } catch (err) {
    busy.delete(id);
    renderCard(id);
    if (err instanceof ApiError && err.status === 403) refreshSoon();   // no longer mine
    fail(err);
  }
}

function ack(id) {
  act(id, "ack", undefined, (r) => showInfo(r.state === "closed" ? "报警已恢复，已确认关闭" : "已接单，请尽快到现场处理"));
}

function comment(id, text, form) {
  if (!text) { showError("请填写备注"); form.querySelector("textarea").focus(); return; }
  act(id, "comment", { text }, () => {
    form.querySelector("textarea").value = "";
    form.hidden = true;
    loadNotes(id);
    showInfo("备注已保存");
  });
}

function resolve(id, text, form) {
  const a = alarms.find((x) => x.id === id);
  act(id, "resolve", text ? { note: text } : {}, () => {
    form.querySelector("textarea").value = "";
    showInfo(`已处理完成：${a ? title(a) : ""}`);
  });
}

// ---------------------------------------------------------------- live
function nudge(a) {
  try { if (navigator.vibrate) navigator.vibrate([300, 150, 300]); } catch { /* not on this phone */ }
  try {
    if ("Notification" in window && Notification.permission === "granted" && document.visibilityState !== "visible") {
      new Notification(`新报警：${title(a)}`, { body: (a.detail && a.detail.text) || "", tag: `alarm-${a.id}` });
    }
  } catch { /* not on this phone */ }
}

function onAlarm(msg) {
  const d = msg.data || {};
  if (!d.id || !session.username) return;
  const me = session.username;
  const had = alarms.some((a) => a.id === d.id);
  const view = Object.fromEntries(Object.entries(d).filter(([k]) => !["by", "previous", "text", "note", "was"].includes(k)));
  if (msg.type === "alarm.commented" && had) {
    notes.set(d.id, [...(notes.get(d.id) || []), { by: d.by, text: d.text, at: msg.at }]);
  }
  if (d.assignee !== me || d.state === "closed") {
    if (!had) return;
    if (d.state === "closed") {
      const by = d.by === "system" ? "：故障已恢复，报警已关闭" : d.by && d.by !== me ? ` 已由 ${d.by} 关闭` : "";
      drop(d.id, by ? `${title(d)}${by}` : "");
    } else drop(d.id, `${title(d)} 已改派给 ${d.assignee || "其他人员"}`);
    return;
  }
  if (msg.type === "alarm.assigned" && d.previous !== me) {
    fresh.set(d.id, Date.now());
    upsert(view, true);
    nudge(view);
    showInfo(`新指派：${title(view)}`);
    if (!notes.has(d.id)) loadNotes(d.id);
    refreshSoon();
    return;
  }
  if (had) upsert(view);
}

function startStream() {
  stream = connectStream({
    hall,
    topics: ["alarm"],
    onStatus: connectionBadge($("conn")),
    onSnapshot(msg) {
      const d = msg.data || {};
      if (typeof d.now_ms === "number") clockOffset = d.now_ms - Date.now();
      document.body.dataset.synced = "1";
      refresh();
    },
    onEvent(msg) {
      if (msg.type && msg.type.startsWith("alarm.")) onAlarm(msg);
    },
  });
}

// ---------------------------------------------------------------- start
(async function init() {
  if (!session.token) { show("login"); return; }
  try {
    const me = await call("/auth/me");
    session = { ...session, username: me.username, role: me.role, display_name: me.display_name || "" };
    save();
  } catch (err) {
    const expired = err instanceof ApiError && err.status === 401;
    if (expired) { session = {}; save(); }
    show("login");
    if (!expired) showError(errorSentence(err));
    return;
  }
  enter();
})();
