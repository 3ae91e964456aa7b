// The HTTP API (see docs): JSON calls with the error shape turned into exceptions, and SSE reading.
export class ApiError extends Error {}

const KEY = "brokerkg.apiKey";

// With API keys configured on the server, the page asks for one once per session.
function authHeaders() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function askForKey(message) {
  const key = window.prompt(`${message}\n请输入 API 密钥（bkg_…）：`);
  if (key) sessionStorage.setItem(KEY, key.trim());
  return Boolean(key);
}

async function send(method, path, body, extraHeaders = {}) {
  const go = () => fetch(path, {
    method,
    headers: { ...(body ? { "Content-Type": "application/json" } : {}), ...authHeaders(), ...extraHeaders },
    body: body ? JSON.stringify(body) : undefined,
  });
  let response;
  try {
    response = await go();
    if (response.status === 401) {
      let message = "需要 API 密钥";
      try { message = (await response.clone().json()).error.message; } catch { /* keep the default */ }
      if (askForKey(message)) response = await go();
    }
  } catch (err) {
    throw new ApiError("无法连接服务器，请检查网络后重试。");
  }
  return response;
}

// A GET that never asks for a key (background refreshes): the JSON, or null on any failure.
export async function peek(path) {
  try {
    const response = await fetch(path, { headers: authHeaders() });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

export async function call(method, path, body) {
  const response = await send(method, path, body);
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  if (!response.ok) throw new ApiError(data && data.error ? data.error.message : `服务器错误（${response.status}）`);
  return data;
}

// POST with stream: true and call onEvent(kind, data) for each server-sent event.
export async function stream(path, body, onEvent) {
  const response = await send("POST", path, { ...body, stream: true }, { Accept: "text/event-stream" });
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(data && data.error ? data.error.message : `服务器错误（${response.status}）`);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let kind = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) kind = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(kind, JSON.parse(data));
    }
  }
}
