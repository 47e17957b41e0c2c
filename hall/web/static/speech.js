// The hall screen's announcer: ONE serialized queue of call-outs per screen, spoken in Mandarin
// through the browser's speech synthesis. A new call never cuts off the one being spoken: it waits
// in the queue. Each item is spoken `repeat` times (the screen's ?repeat=N, default 2).
//
//   import { createAnnouncer } from "/static/speech.js";
//   const a = createAnnouncer({ repeat: 2, speakMs: 1500, onVoice: (state) => ... });
//   a.announce("请A012号到3号窗口办理");
//
// onVoice(state): "checking" | "ok" (a zh-CN voice speaks) | "none" (no Chinese voice: display only)
//                 | "blocked" (the browser wants a tap/click before it may speak).
// Where no Chinese voice exists (headless Chromium has none) the queue still runs: each item is
// held for `speakMs` per repetition, so the serialized behaviour stays observable. `state` is the
// object a page exposes for tests as `window.hallAnnouncer`: {queue, spoken, current, voice}.

const VOICE_WAIT_MS = 1500;

function pickVoice(synth) {
  if (!synth) return null;
  const voices = synth.getVoices() || [];
  const zh = voices.filter((v) => /^(zh|cmn)([-_]|$)/i.test(v.lang || ""));
  const prefer = (v) => /zh[-_]CN|cmn[-_]Hans/i.test(v.lang) ? 0 : /Hans|CN/i.test(v.name) ? 1 : 2;
  zh.sort((a, b) => prefer(a) - prefer(b) || (b.localService ? 1 : 0) - (a.localService ? 1 : 0));
  return zh[0] || null;
}

// audioUrl(text): where the server speaks `text` (espeak-ng) for browsers without a Chinese voice;
// used only when given (the hall screen passes it with ?audio=server).
export function createAnnouncer({ repeat = 2, speakMs = 1500, onVoice = () => {}, audioUrl = null } = {}) {
  const synth = typeof window !== "undefined" && "speechSynthesis" in window ? window.speechSynthesis : null;
  const state = { queue: [], spoken: [], current: null, voice: "checking" };
  let voice = null;
  let ready = false;   // voice detection finished
  let busy = false;
  let blocked = false; // speech refused until the user interacts with the page

  function setVoice(v) {
    state.voice = v;
    onVoice(v);
  }

  function detect() {
    voice = pickVoice(synth);
    if (voice) { ready = true; setVoice("ok"); pump(); return; }
    if (!synth) { ready = true; setVoice("none"); pump(); return; }
    // Voices load asynchronously in Chromium: wait for voiceschanged, but not for ever.
    const done = () => {
      if (ready) return;
      voice = pickVoice(synth);
      ready = true;
      setVoice(voice ? "ok" : "none");
      pump();
    };
    synth.addEventListener?.("voiceschanged", () => {
      const v = pickVoice(synth);
      if (v) { voice = v; if (ready) setVoice("ok"); else done(); }
    });
    setTimeout(done, VOICE_WAIT_MS);
  }

  function wait(msec) {
    return new Promise((resolve) => setTimeout(resolve, msec));
  }

  function speakOnce(text) {
    return new Promise((resolve) => {
      const u = new SpeechSynthesisUtterance(text);
      u.voice = voice;
      u.lang = voice.lang || "zh-CN";
      u.rate = 0.9;
      u.volume = 1;
      let settled = false;
      const finish = (ok) => { if (!settled) { settled = true; clearTimeout(guard); resolve(ok); } };
      // Some engines never fire `end`: give up after a generous bound for this text.
      const guard = setTimeout(() => finish(true), 4000 + text.length * 450);
      u.onend = () => finish(true);
      u.onerror = (e) => {
        if (e && e.error === "not-allowed") { blocked = true; setVoice("blocked"); }
        finish(false);
      };
      synth.speak(u);
    });
  }

  function playServerAudio(text) {
    return new Promise((resolve) => {
      const a = new Audio(audioUrl(text));
      let settled = false;
      const finish = (ok) => { if (!settled) { settled = true; clearTimeout(guard); resolve(ok); } };
      const guard = setTimeout(() => finish(false), 4000 + text.length * 450);
      a.onended = () => finish(true);
      a.onerror = () => finish(false);
      a.play().catch((e) => {
        if (e && e.name === "NotAllowedError") { blocked = true; setVoice("blocked"); }
        finish(false);
      });
    });
  }

  async function speakItem(text) {
    for (let i = 0; i < Math.max(1, repeat); i++) {
      if (voice && !blocked) {
        const ok = await speakOnce(text);
        if (!ok) await wait(speakMs);          // refused or failed: keep the pace of the queue
      } else if (audioUrl && !blocked) {
        const ok = await playServerAudio(text); // no Chinese voice: the server speaks (espeak-ng)
        if (!ok) await wait(speakMs);
      } else {
        await wait(speakMs);                   // no Chinese voice: simulate the time it takes
      }
      if (i + 1 < repeat) await wait(600);     // a short pause between repetitions
    }
  }

  async function pump() {
    if (busy || !ready) return;
    busy = true;
    try {
      while (state.queue.length) {
        const text = state.queue.shift();
        state.current = text;
        state.spoken.push(text);
        if (state.spoken.length > 200) state.spoken.splice(0, state.spoken.length - 200);
        await speakItem(text);
        state.current = null;
      }
    } finally {
      busy = false;
      state.current = null;
    }
  }

  // A tap on the screen lifts Chromium's "no speech before user activation" rule.
  if (typeof document !== "undefined") {
    document.addEventListener("pointerdown", () => {
      if (blocked) { blocked = false; setVoice(voice ? "ok" : "none"); }
    });
  }

  detect();

  return {
    state,
    announce(text) {
      if (!text) return;
      state.queue.push(text);
      pump();
    },
  };
}
