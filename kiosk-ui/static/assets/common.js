// Shared helpers of the servicehall apps: the REST client, the live
// stream with reconnect/backoff, browser sign-in, auto-escaping HTML and
// formatting. No dependencies.
"use strict";
const SH = (() => {
  const q = new URLSearchParams(location.search);
  // A token in the URL is refused: it would sit in the browser's history
  // and the server's address bar logs. The param is dropped from the
  // address at once and the console shows the sign-in field with
  // tokenInURL set (docs/security.md).
  const tokenInURL = q.has("token");
  if (tokenInURL) {
    q.delete("token");
    const rest = q.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  }

  // html is the one way the apps build markup: a tagged template that
  // escapes every interpolated value unless it is itself an html result
  // (or an array of them). el.innerHTML = SH.html`<b>${name}</b>`.
  class Safe { constructor(s) { this.s = s; } toString() { return this.s; } }
  const escMap = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };
  function part(v) {
    if (v instanceof Safe) return v.s;
    if (Array.isArray(v)) return v.map(part).join("");
    return String(v == null ? "" : v).replace(/[&<>"'`]/g, c => escMap[c]);
  }
  function html(strings, ...vals) {
    let out = strings[0];
    vals.forEach((v, i) => { out += part(v) + strings[i + 1]; });
    return new Safe(out);
  }
  // styled sets the inline sizes the markup carries as data-w / data-o
  // (style= attributes are refused by the Content-Security-Policy).
  function styled(root) {
    root.querySelectorAll("[data-w]").forEach(e => { e.style.width = e.dataset.w + "px"; });
    root.querySelectorAll("[data-o]").forEach(e => { e.style.opacity = e.dataset.o; });
  }

  class ApiError extends Error {
    constructor(p) { super(p.message_en || p.title || "error"); this.problem = p; this.code = p.code; }
  }

  // api calls /api/v1: JSON both ways (every call but GET/HEAD sends
  // Content-Type: application/json, which the server requires of writes);
  // staff calls are authorised by the sh_session cookie (signIn).
  async function api(method, path, body) {
    const h = {};
    if (body !== undefined || (method !== "GET" && method !== "HEAD")) h["Content-Type"] = "application/json";
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

  // signIn posts a pasted token to /api/v1/session, which keeps it in an
  // HttpOnly cookie: the page never stores it. signOut ends the session.
  function signIn(token) { return api("POST", "/session", { token }); }
  function signOut() { return api("DELETE", "/session"); }

  function mins(s) { return Math.max(1, Math.round((s || 0) / 60)); }
  function rid() { return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + "-" + Math.random().toString(16).slice(2)); }
  function clock(el) {
    const tick = () => { el.textContent = time(new Date()); };
    tick(); setInterval(tick, 1000); hallZone().then(tick);
  }

  // --- issue 11 (manager helper): the hall's time zone -----------------
  // Clocks and times show the HALL's time (hall.timezone, from
  // /api/v1/hall), not the browser's: a console on a laptop set to
  // another zone still says the hall's time. Until the zone has loaded,
  // Asia/Shanghai (the config's default). hallZone() fetches it once.
  let zone = "Asia/Shanghai", zoneP = null;
  function hallZone() {
    if (!zoneP) zoneP = fetch("/api/v1/hall").then(r => r.ok ? r.json() : null)
      .then(h => { if (h && h.timezone) zone = h.timezone; return zone; }).catch(() => zone);
    return zoneP;
  }
  const zoned = (o) => Object.assign({ hour12: false, timeZone: zone }, o || {});
  // time(d) "14:05:09", dateTime(d) "2026/11/20 14:05:09", day(d)
  // "2026-11-20" and hour(d) 14, all in the hall's zone.
  function time(d, o) { return new Date(d).toLocaleTimeString("zh-CN", zoned(o)); }
  function dateTime(d, o) { return new Date(d).toLocaleString("zh-CN", zoned(o)); }
  function day(d) { return new Date(d).toLocaleDateString("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }); }
  function hour(d) { return Number(new Date(d).toLocaleString("en-GB", { timeZone: zone, hour: "2-digit", hourCycle: "h23" })); }
  // --- end issue 11 (manager helper) ---------------------------------------

  return { api, stream, dropStreams, mins, html, styled, rid, signIn, signOut, tokenInURL, clock, q, ApiError,
    hallZone, time, dateTime, day, hour, zone: () => zone };
})();

// --- Staff sign-in (hallctl/web/signin.go; the clerk console, and the
// manager console when it adopts it) ---
// SH.staffSignIn(staff, password, window) signs a member of staff in with
// the staff id and password (and, for a clerk, the window worked at); the
// server sets the HttpOnly sh_session cookie. A refusal throws an
// SH.ApiError; a throttled one (429) carries retryAfter in seconds.
SH.staffSignIn = async (staff, password, window) => {
  const r = await fetch("/api/v1/session", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ staff, password, window: window || undefined }) });
  const json = (r.headers.get("Content-Type") || "").includes("json");
  const data = json ? await r.json() : { code: "http_" + r.status, status: r.status, message_zh: "登录失败，请稍后再试", message_en: "sign-in failed" };
  if (!r.ok) { const e = new SH.ApiError(data); e.retryAfter = Number(r.headers.get("Retry-After") || 0); throw e; }
  return data;
};
