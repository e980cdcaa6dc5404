// Hall screen (综合屏, 1920×1080): the latest calls (number → window; no
// names), waiting per department, a notice ticker. The newest call flashes.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let calls = [];
  function renderCalls() {
    const c = calls[0];
    $("latest-n").textContent = c ? c.number : "—";
    $("latest-w").textContent = c ? `请到 ${c.window} 号窗口 · Window ${c.window}` : "";
    const el = $("calls"); el.innerHTML = "";
    calls.slice(1, 9).forEach(x => { const d = document.createElement("div"); d.innerHTML = `<b>${SH.esc(x.number)}</b><span>→ ${x.window} 号窗口</span>`; el.appendChild(d); });
    document.body.dataset.latest = c ? c.number + "@" + c.window : "";
  }
  function flash() { const l = $("latest"); l.classList.remove("flash"); void l.offsetWidth; l.classList.add("flash"); }
  async function refresh() {
    try {
      const s = await SH.api("GET", "/screen");
      calls = s.calls || []; renderCalls();
      const d = $("depts"); d.innerHTML = "";
      (s.depts || []).forEach(x => { const e = document.createElement("div"); e.dataset.dept = x.code; e.innerHTML = `<span>${SH.esc(x.name)}</span><b>${x.waiting}</b>`; d.appendChild(e); });
      $("total").textContent = s.waiting;
      if ($("ticker").textContent !== s.notice) $("ticker").textContent = s.notice;
      document.body.dataset.ready = "1";
    } catch (_) {}
  }
  let t = null;
  SH.stream((m) => {
    if (m.call) {
      calls = [m.call].concat(calls.filter(c => !(c.number === m.call.number && c.window === m.call.window))).slice(0, 10);
      renderCalls(); flash();
    }
    if (m.kind === "queue") { clearTimeout(t); t = setTimeout(refresh, 300); }
    if (m.kind === "notice") $("ticker").textContent = m.notice || "";
  }, (up) => { if (up) refresh(); });
  SH.api("GET", "/hall").then(h => { $("hall-name").textContent = h.name; }).catch(() => {});
  SH.clock($("clock"));
  setInterval(refresh, 30000);
})();
