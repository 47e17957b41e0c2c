// Small helpers for the REST API of CONTRACT.md, shared by the pages.
// Errors come back as {error, detail}; `errorSentence` turns them into one plain sentence
// (the Chinese half of the detail) for the people at a kiosk or a window.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export async function api(path, { method = "GET", body, token, headers = {} } = {}) {
  const h = { ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (token) h["Authorization"] = `Bearer ${token}`;
  const r = await fetch(`/api/v1${path}`, { method, headers: h, credentials: "same-origin",
                                            body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 204) return null;
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

export function errorSentence(err) {
  if (err instanceof ApiError) {
    const d = err.body.detail || "";
    return d.split(" / ")[0] || "操作失败，请稍后重试";
  }
  return "网络连接中断，请稍后重试";
}

export function fmtWait(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return "不到1分钟";
  return `约${Math.round(seconds / 60)}分钟`;
}
