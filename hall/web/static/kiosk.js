// The self-service kiosk: scan an ID card or 安康码 (the scanner types and ends with Enter),
// or type an appointment code, then pick the service; no credential means a walk-in ticket.
// The scanned credential lives only in memory until the request is sent, and is never shown.

import { api, ApiError, errorSentence, fmtWait } from "/static/api.js";
import { connectStream, connectionBadge } from "/static/stream.js";

const hall = document.body.dataset.hall;
const $ = (id) => document.getElementById(id);

const RETURN_AFTER_S = 20;       // the ticket screen goes back to the start after this
const FORGET_SCAN_AFTER_S = 60;  // a scan nobody follows up is dropped
const ID_RE = /^[1-9]\d{16}[\dX]$/;
const PICKUP_RE = /^\d{6,12}$/;  // a pickup code (亮码取件)
const DEVICE = new URLSearchParams(location.search).get("device");  // this kiosk's id, when it has one

let services = [];
let pending = null;       // {channel, credential?, appointment_id?, label}: what the next ticket is issued with
let pendingTimer = null;
let busy = false;
let retry = null;         // {service, pending, key}: an attempt that failed on the network is retried with its key
let clockOffset = 0;      // hall clock minus browser clock (from the snapshot)
let errorTimer = null;
let returnTimer = null;

// ---------------------------------------------------------------- services
function renderServices() {
  const box = $("services");
  box.replaceChildren(...services.map((s) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "svc" + (s.open ? "" : " closed");
    b.dataset.service = s.code;
    const name = el("div", "name", s.name);
    const prefix = el("span", "prefix", s.prefix);
    b.append(prefix, name);
    if (s.open) {
      const stats = el("div", "stats");
      const w = el("span", "", "等候人数");
      const wv = el("span", "v");
      wv.append(el("b", "waiting", String(s.waiting)), "人");
      w.append(wv);
      const e = el("span", "", "预计等候");
      const ev = el("span", "v est", fmtWait(s.est_wait_s));
      if (s.target_wait_min && s.est_wait_s > s.target_wait_min * 60) ev.classList.add("long");
      e.append(ev);
      stats.append(w, e);
      b.append(stats);
      b.setAttribute("aria-label", `${s.name}，等候${s.waiting}人，预计等候${fmtWait(s.est_wait_s)}`);
    } else {
      b.append(el("div", "closed-tag", "暂停取号"), el("div", "hours", `办理时间：${s.hours || ""}`));
      b.setAttribute("aria-disabled", "true");
    }
    b.addEventListener("click", () => choose(s.code));
    return b;
  }));
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

let refreshTimer = null;
async function refreshServices() {
  try {
    services = await api(`/halls/${encodeURIComponent(hall)}/services`);
    renderServices();
  } catch (err) {
    if (!services.length) showError(errorSentence(err));
  }
}
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshServices, 400);
}

// ---------------------------------------------------------------- the scanner
const scan = $("scan");
function dialogOpen() { return !$("appt-dialog").hidden || !$("pickup-dialog").hidden; }
function keepFocus() { if (!dialogOpen() && document.activeElement !== scan) scan.focus({ preventScroll: true }); }
scan.addEventListener("blur", () => setTimeout(keepFocus, 0));
document.addEventListener("pointerup", () => setTimeout(keepFocus, 0));
scan.addEventListener("keydown", (ev) => {
  if (ev.key !== "Enter") return;
  ev.preventDefault();
  const raw = scan.value.trim().toUpperCase();
  scan.value = "";
  if (!raw) return;
  if (!$("done").hidden) backToStart();
  if (ID_RE.test(raw)) setPending({ channel: "id_card", credential: raw, label: "身份证" });
  else if (raw.startsWith("AHAKM")) setPending({ channel: "ankang", credential: raw, label: "安康码" });
  else if (PICKUP_RE.test(raw)) pickup(raw);  // 亮码取件: the code shown on a phone, read by the scanner
  else showError("未能识别该证件，请重新刷身份证或扫安康码");
});

function setPending(p) {
  pending = p;
  retry = null;
  clearError();
  clearTimeout(pendingTimer);
  pendingTimer = setTimeout(() => setPending(null), FORGET_SCAN_AFTER_S * 1000);
  const g = $("guide");
  if (p) {
    g.classList.add("ready");
    $("guide-icon").textContent = "✓";
    $("guide-title").textContent = p.channel === "appointment" ? "预约码已输入，请点击预约的业务" : `已读取${p.label}，请点击要办理的业务`;
    $("guide-text").textContent = "点击下方业务即可取号；如需重新刷证请点“取消”";
    $("cancel-id").hidden = false;
  } else {
    clearTimeout(pendingTimer);
    g.classList.remove("ready");
    $("guide-icon").textContent = "1";
    $("guide-title").textContent = "请刷身份证或扫安康码，再选择业务";
    $("guide-text").textContent = "身份证放在感应区，安康码对准扫码口；没有证件也可直接点击业务取号";
    $("cancel-id").hidden = true;
  }
}
$("cancel-id").addEventListener("click", () => setPending(null));

// ---------------------------------------------------------------- issuing
async function choose(code) {
  if (busy) return;  // a double tap
  const svc = services.find((s) => s.code === code);
  if (svc && !svc.open) {
    showError(`「${svc.name}」现在不办理，办理时间：${svc.hours || ""}`);
    return;
  }
  const p = pending;
  const body = { service: code, channel: p ? p.channel : "walk_in" };
  if (p && p.credential) body.credential = p.credential;
  if (p && p.appointment_id) body.appointment_id = p.appointment_id;
  const key = retry && retry.service === code && retry.pending === p ? retry.key : newKey();
  busy = true;
  document.body.classList.add("busy");
  try {
    const t = await api(`/halls/${encodeURIComponent(hall)}/tickets`,
                        { method: "POST", body, headers: { "Idempotency-Key": key } });
    retry = null;
    setPending(null);
    showTicket(t, svc);
  } catch (err) {
    if (err instanceof ApiError) { retry = null; setPending(null); } else { retry = { service: code, pending: p, key }; }
    showError(errorSentence(err));
  } finally {
    busy = false;
    document.body.classList.remove("busy");
    body.credential = undefined;
  }
}

// crypto.randomUUID exists only in secure contexts; a kiosk on the hall's LAN may use plain http.
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function showTicket(t, svc) {
  clearError();
  $("t-number").textContent = t.number;
  $("t-service").textContent = svc ? svc.name : t.service;
  $("t-ahead").textContent = `${t.ahead} 人`;
  $("t-wait").textContent = fmtWait(t.est_wait_s);
  $("t-green").hidden = t.priority !== "green";
  $("t-qr").hidden = false;
  $("t-qr").src = `/api/v1/halls/${encodeURIComponent(hall)}/tickets/${encodeURIComponent(t.id)}/qr.svg`;
  $("t-url").textContent = t.track_url || "";
  $("start").hidden = true;
  $("done").hidden = false;
  printSlip(t);
  let left = RETURN_AFTER_S;
  const tick = () => {
    $("countdown").textContent = `${left} 秒后返回首页`;
    if (left-- <= 0) backToStart(true);
    else returnTimer = setTimeout(tick, 1000);
  };
  clearTimeout(returnTimer);
  tick();
}

function printSlip(t) {
  const frame = $("print-frame");
  $("t-print").textContent = "正在打印排队凭条，请取走凭条";
  delete document.body.dataset.printed;
  frame.onload = () => {
    document.body.dataset.printed = "1";  // the slip is loaded (tests wait for it before the next scan)
    try {
      const doc = frame.contentDocument;
      if (doc && doc.contentType && doc.contentType !== "application/pdf") {
        $("t-print").textContent = "凭条暂时无法打印，请记下您的排队号或扫码查看";
        return;
      }
      if (navigator.webdriver) return;  // a browser under automation (tests) has no printer: its print
                                        // preview crashed headless Chromium's renderer now and then
      frame.contentWindow.focus();
      frame.contentWindow.print();
    } catch {
      /* the printer driver answers for itself; the number is on screen */
    }
  };
  frame.src = `/api/v1/halls/${encodeURIComponent(hall)}/tickets/${encodeURIComponent(t.id)}/slip.pdf`;
}

function backToStart(timedOut = false) {
  clearTimeout(returnTimer);
  $("done").hidden = true;
  $("start").hidden = false;
  $("print-frame").removeAttribute("src");
  $("t-qr").removeAttribute("src");
  if (timedOut) setLarge(false);
  keepFocus();
}
$("finish").addEventListener("click", () => backToStart(true));

$("t-qr").addEventListener("error", () => { $("t-qr").hidden = true; });  // the link below still works

// ---------------------------------------------------------------- appointment code
const KEYS = ["1", "2", "3", "A", "4", "5", "6", "B", "7", "8", "9", "C", "D", "0", "E", "F", "删除", "清空"];
$("keypad").replaceChildren(...KEYS.map((k) => {
  const b = el("button", "", k);
  b.type = "button";
  b.addEventListener("click", () => {
    const inp = $("appt-code");
    if (k === "删除") inp.value = inp.value.slice(0, -1);
    else if (k === "清空") inp.value = "";
    else if (inp.value.length < 16) inp.value += k;
    inp.focus();
  });
  return b;
}));
$("appointment").addEventListener("click", () => {
  $("appt-code").value = "";
  $("appt-dialog").hidden = false;
  $("appt-code").focus();
});
function closeDialog() { $("appt-dialog").hidden = true; keepFocus(); }
$("appt-cancel").addEventListener("click", closeDialog);
function confirmCode() {
  const code = $("appt-code").value.trim().toUpperCase();
  if (!code) { showError("请输入预约码"); return; }
  closeDialog();
  setPending({ channel: "appointment", appointment_id: code, label: "预约码" });
}
$("appt-ok").addEventListener("click", confirmCode);
$("appt-code").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); confirmCode(); } });
$("help").addEventListener("click", () => showError("请到入口处导服台，工作人员会帮您取号"));

// ---------------------------------------------------------------- 亮码取件: pickup from a locker
$("pickup-keypad").replaceChildren(...["1", "2", "3", "4", "5", "6", "7", "8", "9", "删除", "0", "清空"].map((k) => {
  const b = el("button", "", k);
  b.type = "button";
  b.addEventListener("click", () => {
    const inp = $("pickup-code");
    if (k === "删除") inp.value = inp.value.slice(0, -1);
    else if (k === "清空") inp.value = "";
    else if (inp.value.length < 12) inp.value += k;
    inp.focus();
  });
  return b;
}));
$("pickup").addEventListener("click", () => {
  $("pickup-code").value = "";
  $("pickup-dialog").hidden = false;
  $("pickup-code").focus();
});
function closePickup() { $("pickup-dialog").hidden = true; keepFocus(); }
$("pickup-cancel").addEventListener("click", closePickup);
function confirmPickup() {
  const code = $("pickup-code").value.trim();
  if (!PICKUP_RE.test(code)) { showError("请输入完整的取件码（数字）"); return; }
  closePickup();
  pickup(code);
}
$("pickup-ok").addEventListener("click", confirmPickup);
$("pickup-code").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter") { ev.preventDefault(); confirmPickup(); }
});
async function pickup(code) {
  if (busy) return;
  busy = true;
  clearError();
  $("guide-title").textContent = "正在开柜，请稍候…";
  try {
    const r = await api(`/halls/${encodeURIComponent(hall)}/lockers/pickup`, {
      method: "POST", body: { code, ...(DEVICE ? { device: DEVICE } : {}) } });
    $("pickup-where").textContent = `请到${r.location ? r.location + " " : ""}智能柜 ${r.device} 的 ${r.slot} 号格口取件`;
    $("pickup-done").hidden = false;
    clearTimeout(returnTimer);
    returnTimer = setTimeout(closePickupDone, RETURN_AFTER_S * 1000);
  } catch (err) {
    showError(errorSentence(err));
  } finally {
    busy = false;
    setPending(pending);  // the guide text as it was
  }
}
function closePickupDone() { $("pickup-done").hidden = true; $("pickup-where").textContent = ""; keepFocus(); }
$("pickup-close").addEventListener("click", closePickupDone);

// ---------------------------------------------------------------- errors, large text, clock
function showError(text) {
  const e = $("error");
  e.textContent = text;
  e.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(clearError, 10000);
}
function clearError() { $("error").hidden = true; }

function setLarge(on) {
  document.documentElement.classList.toggle("large", on);
  $("large").setAttribute("aria-pressed", on ? "true" : "false");
}
$("large").addEventListener("click", () => setLarge(!document.documentElement.classList.contains("large")));

function tickClock() {
  const d = new Date(Date.now() + clockOffset);
  $("clock").textContent = d.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", hour12: false,
                                                           timeZone: "Asia/Shanghai" });
}
setInterval(tickClock, 1000);
tickClock();

// ---------------------------------------------------------------- live counts
connectStream({
  hall,
  topics: ["ticket"],
  onStatus: connectionBadge($("conn")),
  onSnapshot(msg) {
    const d = msg.data || {};
    if (typeof d.now_ms === "number") { clockOffset = d.now_ms - Date.now(); tickClock(); }
    document.body.dataset.synced = "1";
    if (Array.isArray(d.services)) { services = d.services; renderServices(); }
    else refreshServices();
  },
  onEvent(msg) {
    const d = msg.data || {};
    if (typeof d.waiting === "number" && d.service) {
      const s = services.find((x) => x.code === d.service);
      if (s) { s.waiting = d.waiting; renderServices(); }
    }
    refreshSoon();  // waits and the other service of a transfer
  },
});
setInterval(refreshServices, 60000);
refreshServices();
keepFocus();
