// Hall screen (综合屏) as configured signage: the newest call large and the
// calls before it (screen.last_calls in all; numbers and windows only, no
// names), waiting per department paged when they do not fit (a page every
// screen.page_seconds, with a page indicator), the notice. Title, label
// languages, panels and colours come from the hall config's screen:
// section, served in GET /api/v1/screen as layout. The layout scales
// with the screen (screen.css).
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const LANG = { zh: "zh-CN", en: "en" };
  const T = {
    calling: { zh: "正在叫号", en: "Now calling" },
    recent: { zh: "最近叫号", en: "Recent calls" },
    waiting: { zh: "各部门等候人数", en: "Waiting by department" },
    total: { zh: "合计", en: "Total" },
    idle: { zh: "暂无叫号，请留意屏幕和广播", en: "No number called yet. Please watch this screen." },
  };
  const go = { zh: (w) => `请到 ${w} 号窗口`, en: (w) => `Please go to window ${w}` };
  const win = { zh: (w) => `${w} 号窗口`, en: (w) => `Window ${w}` };
  const pageOf = { zh: (i, n) => `第 ${i}/${n} 页`, en: (i, n) => `Page ${i}/${n}` };

  let layout = { title: "", languages: ["zh", "en"], panels: ["calls", "depts", "notice"], last_calls: 8,
    page_seconds: 10, depts_per_page: 0, colours: {}, timezone: "" };
  let applied = "";

  // stacked: one label per configured language, the first large and the
  // second beneath it; inline: on one line, separated by a slash.
  const stacked = (f) => layout.languages.map((l, i) => SH.html`<span lang="${LANG[l]}" class="l${i + 1}">${f(l)}</span>`);
  const inline = (f) => layout.languages.map((l, i) => SH.html`${i ? " / " : ""}<span lang="${LANG[l]}">${f(l)}</span>`);

  function applyLayout(l) {
    const key = JSON.stringify(l || {});
    if (!l || key === applied) return;
    applied = key;
    layout = Object.assign({}, layout, l);
    const root = document.documentElement;
    for (const [k, v] of Object.entries(layout.colours || {})) root.style.setProperty("--s-" + k.replace(/_/g, "-"), v);
    root.lang = LANG[layout.languages[0]] || "zh-CN";
    $("hall-name").textContent = layout.title;
    document.title = layout.title + " · 综合屏";
    document.querySelectorAll("[data-l]").forEach(e => {
      const f = (x) => T[e.dataset.l][x];
      e.innerHTML = SH.html`${e.dataset.inline !== undefined ? inline(f) : stacked(f)}`;
    });
    const has = (p) => layout.panels.includes(p);
    $("panel-calls").classList.toggle("hidden", !has("calls"));
    $("panel-depts").classList.toggle("hidden", !has("depts"));
    document.body.classList.toggle("one-panel", !(has("calls") && has("depts")));
    document.body.dataset.layout = "1";
    renderCalls(); renderDepts(); setNotice(noticeText);
    clearInterval(timer);
    timer = setInterval(next, Math.max(3, layout.page_seconds) * 1000);
  }

  // Calls.
  let calls = [];
  function renderCalls() {
    const n = Math.max(1, layout.last_calls);
    calls = calls.slice(0, n);
    const c = calls[0];
    $("latest").classList.toggle("idle", !c);
    document.body.dataset.idle = c ? "0" : "1";
    $("latest-n").textContent = c ? c.number : "";
    $("latest-w").innerHTML = SH.html`${c ? stacked(l => go[l](c.window)) : ""}`;
    const el = $("calls"), slots = n - 1;
    // The earlier calls, once there are any (and screen.last_calls > 1).
    el.classList.toggle("hidden", slots === 0 || calls.length < 2);
    $("recent-h").classList.toggle("hidden", slots === 0 || calls.length < 2);
    // One column while the calls fit it at a readable size, then two.
    const cols = slots > 6 ? 2 : 1, rows = Math.max(1, Math.ceil(slots / cols));
    el.style.setProperty("--cols", String(cols));
    el.style.setProperty("--rows", String(rows));
    el.style.setProperty("--rgap", rows > 6 ? ".35rem" : ".75rem");
    // Many earlier calls: the newest one's card gives them room.
    document.body.style.setProperty("--latest", String(rows <= 4 ? 1 : rows <= 6 ? 0.8 : rows <= 8 ? 0.62 : 0.5));
    el.replaceChildren();
    calls.slice(1).forEach(x => {
      const li = document.createElement("li");
      li.innerHTML = SH.html`<b>${x.number}</b><span>${inline(l => win[l](x.window))}</span>`;
      el.appendChild(li);
    });
    shrinkToFit(el);
    document.body.dataset.latest = c ? c.number + "@" + c.window : "";
    document.body.dataset.calls = String(calls.length);
  }
  // shrinkToFit makes a list's text smaller (--shrink) until the rows'
  // text fits their width: the rows' height sets the size (screen.css),
  // a long department name or window label may need less.
  function shrinkToFit(list) {
    list.style.removeProperty("--shrink");
    let k = 1;
    for (let i = 0; i < 3; i++) {
      let worst = 1;
      for (const li of list.children) {
        let over = 0;
        for (const e of li.children) over += Math.max(0, e.scrollWidth - e.clientWidth);
        if (over > 0) worst = Math.min(worst, li.clientWidth / (li.clientWidth + over));
      }
      if (worst >= 1) break;
      k *= worst * 0.97;
      list.style.setProperty("--shrink", k.toFixed(3));
    }
  }
  function flash() { const l = $("latest"); l.classList.remove("flash"); void l.offsetWidth; l.classList.add("flash"); }

  // Departments, a page at a time.
  let depts = [], page = 0, per = 1, pages = 1;
  function fit() {
    const list = $("depts"), was = per;
    if (layout.depts_per_page > 0) {
      per = layout.depts_per_page;
    } else {
      const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
      const row = 5 * rem, gap = 0.6 * rem;
      per = Math.max(1, Math.floor((list.clientHeight + gap) / (row + gap)));
    }
    if (per !== was) page = Math.floor(page * was / per); // keep the first department shown in view
    pages = Math.max(1, Math.ceil(depts.length / per));
    if (page >= pages) page = 0;
    list.style.setProperty("--per", String(per));
  }
  function renderDepts(again = true) {
    fit();
    const list = $("depts");
    list.replaceChildren();
    depts.slice(page * per, (page + 1) * per).forEach(x => {
      const li = document.createElement("li");
      li.dataset.dept = x.code;
      li.innerHTML = SH.html`<span>${x.name}</span><b>${x.waiting}</b>`;
      list.appendChild(li);
    });
    shrinkToFit(list);
    const ind = $("page");
    const dots = Array.from({ length: pages }, (_, i) => (i === page ? "●" : "○")).join("");
    ind.innerHTML = SH.html`${pages < 2 ? "" : SH.html`${inline(l => pageOf[l](page + 1, pages))} <span class="dots" aria-hidden="true">${dots}</span>`}`;
    document.body.dataset.page = `${page + 1}/${pages}`;
    // The rows fit the space as it is now; if it changed (fonts, the
    // notice appearing), fit once more.
    const n = per;
    if (again && layout.depts_per_page <= 0) { fit(); if (per !== n) renderDepts(false); }
  }

  // The notice: whole sentences that fit two lines, a part at a time.
  let noticeText = null, parts = [], part = 0;
  function setNotice(s) {
    noticeText = s || "";
    const foot = $("panel-notice"), p = $("ticker");
    const show = layout.panels.includes("notice") && noticeText !== "";
    const shown = !foot.classList.contains("empty");
    foot.classList.toggle("empty", !show);
    parts = []; part = 0;
    p.textContent = "";
    if (show) split(p);
    // The bar coming or going changes the room left for the departments.
    if (shown !== show && applied) renderDepts();
  }
  function split(p) {
    const fits = (t) => { p.textContent = t; return p.scrollHeight <= p.clientHeight + 1; };
    let cur = "";
    for (let sent of noticeText.match(/[^。！？；;!?]+[。！？；;!?]*|[。！？；;!?]+/g) || [noticeText]) {
      if (fits(cur + sent)) { cur += sent; continue; }
      if (cur) parts.push(cur);
      cur = "";
      while (!fits(sent)) { // one sentence longer than two lines: cut it
        let lo = 1, hi = sent.length;
        while (lo < hi) { const mid = Math.ceil((lo + hi) / 2); if (fits(sent.slice(0, mid))) lo = mid; else hi = mid - 1; }
        parts.push(sent.slice(0, lo)); sent = sent.slice(lo);
      }
      cur = sent;
    }
    if (cur) parts.push(cur);
    p.textContent = parts[0] || "";
    document.body.dataset.noticeParts = String(parts.length);
  }

  // next turns the department page and the notice part (every
  // page_seconds; the browser tests call it through SHScreen.next).
  function next() {
    if (pages > 1) { page = (page + 1) % pages; renderDepts(); }
    if (parts.length > 1) { part = (part + 1) % parts.length; $("ticker").textContent = parts[part]; }
  }
  let timer = null;
  window.SHScreen = Object.freeze({ next });

  async function refresh() {
    try {
      const s = await SH.api("GET", "/screen");
      calls = s.calls || [];
      depts = s.depts || [];
      if (applied) { renderCalls(); renderDepts(); }
      applyLayout(s.layout);
      $("total").textContent = s.waiting;
      if (s.notice !== noticeText) setNotice(s.notice);
      document.body.dataset.ready = "1";
    } catch (_) {}
  }
  let t = null;
  SH.stream((m) => {
    if (m.call) {
      calls = [m.call].concat(calls.filter(c => !(c.number === m.call.number && c.window === m.call.window)));
      renderCalls(); flash();
    }
    if (m.kind === "queue") { clearTimeout(t); t = setTimeout(refresh, 300); }
    if (m.kind === "notice") setNotice(m.notice || "");
  }, (up) => { if (up) refresh(); });
  window.addEventListener("resize", () => { setNotice(noticeText); renderCalls(); renderDepts(); });

  // The clock in the hall's time zone, not the browser's.
  function tick() {
    const o = { hour12: false };
    if (layout.timezone) o.timeZone = layout.timezone;
    try { $("clock").textContent = new Date().toLocaleTimeString("zh-CN", o); } catch (_) { $("clock").textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false }); }
  }
  tick(); setInterval(tick, 1000);
  setInterval(refresh, 30000);
})();
