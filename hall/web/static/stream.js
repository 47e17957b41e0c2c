// The hall's event stream for every live page: snapshot, replay from the last seq, live events,
// and reconnection with backoff. A page that loses the connection says so ("连接中断") and, once
// back, receives every event it missed (replay from `since`), so no call-out is lost.
//
//   import { connectStream } from "/static/stream.js";
//   const s = connectStream({ hall, topics: ["ticket", "window"], device, onSnapshot, onEvent, onStatus });
//   s.close();
//
// onStatus(state): "connecting" | "live" | "down" (down = 连接中断, retrying with backoff).

export function connectStream({ hall, topics = null, device = null, onSnapshot = () => {}, onEvent = () => {},
                                onStatus = () => {}, minDelay = 500, maxDelay = 10000 }) {
  let lastSeq = null;      // the last seq this page has seen; null until the snapshot arrived
  let ws = null;
  let delay = minDelay;
  let closed = false;
  let timer = null;
  let status = null;
  const setStatus = (s) => { if (s !== status) { status = s; onStatus(s); } };

  function url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = new URLSearchParams();
    if (lastSeq !== null) q.set("since", String(lastSeq));
    if (topics) q.set("topics", topics.join(","));
    if (device) q.set("device", device);  // a registered screen: the server notices when it goes dark
    const qs = q.toString();
    return `${proto}//${location.host}/ws/halls/${encodeURIComponent(hall)}${qs ? "?" + qs : ""}`;
  }

  function open() {
    if (closed) return;
    setStatus("connecting");
    ws = new WebSocket(url());
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.error) { setStatus("down"); return; }
      delay = minDelay;
      setStatus("live");
      if (msg.type === "snapshot") { lastSeq = msg.seq; onSnapshot(msg); return; }
      if (typeof msg.seq === "number") {
        if (lastSeq !== null && msg.seq <= lastSeq) return;  // already seen
        lastSeq = msg.seq;
      }
      onEvent(msg);
    };
    ws.onopen = () => setStatus("live");
    ws.onclose = () => {
      if (closed) return;
      setStatus("down");
      timer = setTimeout(open, delay);
      delay = Math.min(maxDelay, delay * 2);
    };
    ws.onerror = () => { try { ws.close(); } catch {} };
  }

  open();
  return {
    get lastSeq() { return lastSeq; },
    close() { closed = true; clearTimeout(timer); if (ws) ws.close(); },
  };
}

// The small connection badge of the desk pages (kiosk, clerk terminal, rating pad): use as
// `onStatus: connectionBadge(el)`. It also sets <body data-conn="…"> for styles and tests.
export function connectionBadge(el) {
  return (state) => {
    document.body.dataset.conn = state;
    el.textContent = state === "live" ? "实时" : state === "down" ? "连接中断" : "连接中…";
    el.classList.toggle("down", state === "down");
  };
}
