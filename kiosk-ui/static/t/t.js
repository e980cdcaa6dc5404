// The ticket page a ticket's QR code opens: /t/<number>?d=<check>. It
// polls /api/v1/t/<number>?d=… (with the ETag, so an unchanged ticket
// costs a 304) every few seconds while the ticket is live, and offers the
// 好差评 rating once it has been served. No login, no dependencies.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const number = decodeURIComponent(location.pathname.split("/")[2] || "").toUpperCase();
  const d = new URLSearchParams(location.search).get("d") || "";
  const api = "/api/v1/t/" + encodeURIComponent(number);
  const qs = "?d=" + encodeURIComponent(d);
  const EVERY = 5000;          // polling while the ticket is live
  let etag = "", timer = 0, delay = EVERY, last = null, stopped = false;

  const hhmm = (t) => SH.time(t, { hour: "2-digit", minute: "2-digit" }); // the hall's zone (common.js)
  SH.hallZone();
  const mins = (s) => Math.max(1, Math.round((s || 0) / 60));

  function ready() { document.body.dataset.ready = "1"; }
  function online(up) { $("offline").classList.toggle("show", !up); document.body.dataset.online = up ? "1" : "0"; }

  function fail(text, code) {
    stopped = true;
    clearTimeout(timer);
    $("ticket").classList.add("hidden"); // an unchecked number is not "your" number
    $("status").classList.add("hidden");
    $("rate").classList.add("hidden");
    $("error").classList.remove("hidden");
    $("error-text").textContent = text;
    document.body.dataset.error = code || "error";
    ready();
  }

  function waitText(p) {
    if (p.wait_p90_s < 0 || p.wait_p50_s < 0) return "暂时无法估算等候时间，请留意叫号屏和广播"; // -1: no window can serve it now
    if (p.wait_p90_s === 0) return "即将叫到您，请留意叫号";
    const a = mins(p.wait_p50_s), b = Math.max(a, mins(p.wait_p90_s));
    return a === b ? `预计还需等候约 ${a} 分钟` : `预计还需等候约 ${a}–${b} 分钟`;
  }

  function where(p) {
    return p.location ? SH.html`<p class="muted">位置：${p.location}</p>` : "";
  }

  function render(p) {
    last = p;
    document.title = p.number + " · " + ({ waiting: "等候中", called: "请到窗口", serving: "办理中", finished: "已办结", voided: "已过号", cancelled: "已取消" }[p.state] || "我的排队号");
    document.body.dataset.state = p.state;
    $("hall").textContent = p.hall || "政务服务大厅";
    $("num").textContent = p.number;
    $("item").textContent = p.item_name || "";
    $("issued").textContent = "取号时间 " + (p.issued_local || hhmm(p.issued_at));
    $("updated").textContent = "更新于 " + SH.time(new Date()) + (live(p) ? " · 每 5 秒自动刷新" : "");
    const st = $("status");
    st.className = "card";
    let h;
    switch (p.state) {
      case "waiting":
        h = SH.html`<p class="state">等候中</p>
          <p class="big" id="ahead">前面还有<b>${p.ahead}</b>人</p>
          <p id="eta">${waitText(p)}</p>${p.no_shows > 0 ? SH.html`<p class="muted">您曾过号，已重新排队，请留意叫号。</p>` : ""}
          <p class="muted">等候时间为估算，请以大厅叫号屏和广播为准。叫到您的号码时本页会提示。</p>`;
        break;
      case "called":
        st.classList.add("call");
        h = SH.html`<p class="state">请到窗口办理</p>
          <p class="big" id="window">请到<b>${p.window}</b>号窗口</p>${where(p)}
          <p class="muted">过号未到需重新排队，请尽快前往。</p>`;
        break;
      case "serving":
        h = SH.html`<p class="state">办理中</p><p class="big" id="window">正在<b>${p.window}</b>号窗口办理</p>`;
        break;
      case "finished":
        st.classList.add("done");
        h = SH.html`<p class="state">已办结</p><p>感谢您的耐心等候。</p>`;
        break;
      case "voided":
        h = SH.html`<p class="state">已过号作废</p><p>该号码叫号时未到，已作废。如需办理，请重新取号。</p>`;
        break;
      case "cancelled":
        h = SH.html`<p class="state">已取消</p><p>该号码已取消。如需办理，请重新取号。</p>`;
        break;
      default:
        h = SH.html`<p class="state">${p.state}</p>`;
    }
    st.innerHTML = SH.html`${h}`; // h is an SH.html result; anything else would be escaped
    $("rate").classList.toggle("hidden", !p.rating_open);
    $("thanks").classList.toggle("hidden", !p.rated);
    if (p.state === "called" && navigator.vibrate) { try { navigator.vibrate([300, 150, 300]); } catch (_) {} }
    ready();
  }

  function live(p) { return p.state === "waiting" || p.state === "called" || p.state === "serving"; }

  function schedule(ms) {
    clearTimeout(timer);
    if (!stopped && !document.hidden) timer = setTimeout(poll, ms);
  }

  async function poll() {
    let r;
    try {
      r = await fetch(api + qs, { headers: etag ? { "If-None-Match": etag } : {}, cache: "no-store" });
    } catch (_) {
      online(false);
      delay = Math.min(delay * 2, 30000);
      ready();
      schedule(delay);
      return;
    }
    online(true);
    delay = EVERY;
    if (r.status === 304) {
      $("updated").textContent = "更新于 " + SH.time(new Date()) + " · 每 5 秒自动刷新";
      schedule(EVERY);
      return;
    }
    if (r.status === 429) {
      const wait = Math.max(1, Number(r.headers.get("Retry-After")) || 30);
      $("loading") && ($("loading").textContent = "尝试次数过多，请稍后再试。");
      document.body.dataset.error = "rate_limited";
      ready();
      schedule(wait * 1000);
      return;
    }
    let body = null;
    try { body = await r.json(); } catch (_) {}
    if (!r.ok) {
      if (body && body.code === "bad_ticket_link") fail("号票链接无效，请重新扫描号票上的二维码。", body.code);
      else { ready(); schedule(delay = Math.min(delay * 2, 30000)); }
      return;
    }
    etag = r.headers.get("ETag") || "";
    render(body);
    if (live(body)) schedule(EVERY);
  }

  // A 差评 (levels 1–2) asks why first: the hall's reasons (the page's
  // rating_reasons) and an optional comment for the manager only.
  let pending = 0;
  function pick(level) {
    const reasons = (last && last.rating_reasons) || [];
    if (level > 2) { rate(level); return; }
    pending = level;
    $("reason-list").replaceChildren(...reasons.map(r => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "reason"; b.dataset.code = r.code; b.setAttribute("aria-pressed", "false");
      b.textContent = r.zh;
      b.onclick = () => b.setAttribute("aria-pressed", b.getAttribute("aria-pressed") === "true" ? "false" : "true");
      return b;
    }));
    document.querySelectorAll("#rate [data-level]").forEach(b => b.classList.toggle("chosen", Number(b.dataset.level) === level));
    $("reasons").classList.remove("hidden");
  }

  async function rate(level, reasons, comment) {
    const btns = document.querySelectorAll("#rate button");
    btns.forEach(b => b.disabled = true);
    $("rate-msg").textContent = "";
    let r, body = null;
    try {
      r = await fetch(api + "/rating" + qs, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(Object.assign({ level }, reasons && reasons.length ? { reasons } : {}, comment ? { comment } : {})) });
      try { body = await r.json(); } catch (_) {}
    } catch (_) {
      $("rate-msg").textContent = "网络连接中断，请稍后再试。";
      btns.forEach(b => b.disabled = false);
      return;
    }
    if (r.ok || (body && body.code === "already_rated")) {
      $("rate").classList.add("hidden");
      $("thanks").classList.remove("hidden");
      document.body.dataset.rated = "1";
      return;
    }
    $("rate-msg").textContent = (body && body.message_zh) || "评价未能提交，请稍后再试。";
    document.body.dataset.rateError = (body && body.code) || String(r.status);
    btns.forEach(b => b.disabled = false);
  }

  document.querySelectorAll("#rate [data-level]").forEach(b => b.addEventListener("click", () => pick(Number(b.dataset.level))));
  $("reasons-send").addEventListener("click", () => {
    const codes = [...document.querySelectorAll("#reason-list [aria-pressed=true]")].map(b => b.dataset.code);
    if (pending) rate(pending, codes, $("comment").value.trim().slice(0, 200));
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden && !stopped && (!last || live(last))) poll(); });
  window.addEventListener("online", () => { if (!stopped) poll(); });

  $("num").textContent = number || "—";
  if (!number || !d) fail("请使用手机扫描号票上的二维码打开本页。", "no_link");
  else poll();
})();
