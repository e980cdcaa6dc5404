// Shared helpers of the servicehall apps: the REST client, the live
// stream with reconnect/backoff, and formatting. No dependencies.
"use strict";
const SH = (() => {
  const q = new URLSearchParams(location.search);

  class ApiError extends Error {
    constructor(p) { super(p.message_en || p.title || "error"); this.problem = p; this.code = p.code; }
  }

  async function api(method, path, body, token) {
    const h = {};
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (token) h["Authorization"] = "Bearer " + token;
    const r = await fetch("/api/v1" + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const ct = r.headers.get("Content-Type") || "";
    const data = ct.includes("json") ? await r.json() : await r.text();
    if (!r.ok) throw new ApiError(typeof data === "object" ? data : { code: "http_" + r.status, message_en: String(data), message_zh: String(data) });
    return data;
  }

  // stream keeps a websocket open: onMsg(msg) for each event, onState(up)
  // when it connects or drops. Reconnects with exponential backoff
  // (0.5 s … 15 s, jittered); on connect the app reloads its snapshot.
  const streams = [];
  // dropStreams closes every live stream as a network outage would (the
  // browser tests use it; the apps then reconnect by themselves).
  function dropStreams() { streams.forEach(s => s.drop()); }
  function stream(onMsg, onState, params) {
    let delay = 500, ws = null, stopped = false, opened = 0;
    const banner = document.getElementById("offline");
    const qs = new URLSearchParams(params || {}).toString();
    function setUp(up) {
      if (banner) banner.classList.toggle("show", !up);
      document.body.dataset.online = up ? "1" : "0";
      if (!up) document.body.dataset.offlineSeen = "1";
      onState && onState(up);
    }
    function connect() {
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/stream" + (qs ? "?" + qs : "");
      ws = new WebSocket(url);
      ws.onopen = () => { delay = 500; if (opened++) document.body.dataset.reconnects = String(opened - 1); setUp(true); };
      ws.onmessage = (e) => { let m; try { m = JSON.parse(e.data); } catch (_) { return; } onMsg(m); };
      ws.onclose = () => {
        setUp(false);
        if (stopped) return;
        const wait = delay * (0.75 + Math.random() / 2);
        delay = Math.min(delay * 2, 15000);
        if (banner) banner.dataset.retry = Math.round(wait / 1000);
        setTimeout(connect, wait);
      };
      ws.onerror = () => { try { ws.close(); } catch (_) {} };
    }
    connect();
    const handle = { stop() { stopped = true; ws && ws.close(); }, drop() { ws && ws.close(); } };
    streams.push(handle);
    return handle;
  }

  function mins(s) { return Math.max(1, Math.round((s || 0) / 60)); }
  function esc(s) { return String(s == null ? "" : s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
  function rid() { return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + "-" + Math.random().toString(16).slice(2)); }
  function token() {
    const t = q.get("token");
    if (t) { try { sessionStorage.setItem("sh-token", t); } catch (_) {} return t; }
    try { return sessionStorage.getItem("sh-token") || ""; } catch (_) { return ""; }
  }
  function clock(el) {
    const tick = () => { const d = new Date(); el.textContent = d.toLocaleTimeString("zh-CN", { hour12: false }); };
    tick(); setInterval(tick, 1000);
  }
  return { api, stream, dropStreams, mins, esc, rid, token, clock, q, ApiError };
})();
