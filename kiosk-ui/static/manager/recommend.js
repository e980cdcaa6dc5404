// Manager console: recommendations (推荐调整). The server searches
// candidate actions with the simulator (GET /manager/recommendations,
// docs/queue.md "Recommendations"); each of the top three can be
// previewed (first click: POST /manager/preview with its actions) and then
// applied (second click: POST /manager/actions). Loaded after manager.js;
// it starts once the console has signed in (body[data-ready="1"]).
"use strict";
(() => {
  const sec = document.getElementById("recommendations");
  if (!sec) return;
  sec.classList.add("card", "wide");
  const mn = (m) => Number(m).toFixed(0);
  function ptext(e) { return e.problem ? e.problem.message_zh + " / " + e.problem.message_en + (e.problem.detail ? " — " + e.problem.detail : "") : String(e); }
  sec.innerHTML = SH.html`<h2 id="rec-h">推荐调整 Recommendations <button id="rec-refresh" class="btn">重新计算 Recompute</button></h2>
    <p id="rec-msg" class="muted" role="status">计算中… searching…</p><ol id="rec-list"></ol>`;
  const list = document.getElementById("rec-list"), msg = document.getElementById("rec-msg");
  let loading = false;

  async function load() {
    if (loading) return;
    loading = true;
    msg.textContent = "计算中… searching…";
    try {
      const r = await SH.api("GET", "/manager/recommendations");
      render(r);
    } catch (e) {
      msg.textContent = ptext(e);
    } finally { loading = false; }
  }

  function render(r) {
    list.replaceChildren();
    const when = new Date(r.at).toLocaleTimeString("zh-CN", { hour12: false, timeZone: SH.tz || undefined });
    msg.textContent = r.recommendations.length
      ? `${when} 按今日到达率模拟未来 ${r.horizon_min} 分钟：试算 ${r.evaluated} 项调整（${r.simulations} 次模拟）${r.complete ? "" : "，时间所限未算完"} · simulated ${r.evaluated} candidates`
      : `${when} 暂无推荐：试算 ${r.evaluated} 项调整，没有能缩短等候而不拖累其他部门的 · no change would help (${r.evaluated} tried)`;
    r.recommendations.forEach(rec => {
      const li = document.createElement("li");
      li.className = "rec"; li.dataset.rank = rec.rank; li.dataset.window = rec.window;
      const nums = rec.waiting_numbers.join(" ") + (rec.waiting_affected > rec.waiting_numbers.length ? " …" : "");
      li.innerHTML = SH.html`<p><b class="rec-title">${rec.title}</b>：预计 P90 等候 <b>${mn(rec.p90_before_min)} → ${mn(rec.p90_after_min)}</b> 分钟
        <span class="muted" lang="en">(${rec.title_en}: P90 wait ${mn(rec.p90_before_min)} → ${mn(rec.p90_after_min)} min)</span></p>
        <p class="muted">${rec.dept_name} 正在等候 ${rec.waiting_affected} 人 waiting${nums ? "：" + nums : ""} · 全厅 P90 hall ${mn(rec.hall_p90_before_min)} → ${mn(rec.hall_p90_after_min)} 分钟</p>
        <p class="form"><button class="btn go rec-preview">预览 Preview</button><button class="btn apply rec-apply hidden">应用 Apply</button><span class="rec-out" role="status"></span></p>`;
      const out = li.querySelector(".rec-out"), apply = li.querySelector(".rec-apply");
      li.querySelector(".rec-preview").onclick = async () => {
        out.textContent = "模拟中… simulating…";
        try {
          const p = await SH.api("POST", "/manager/preview", { actions: rec.actions, horizon_s: r.horizon_min * 60 });
          out.textContent = `预览：全厅 P90 等候 ${mn(p.before.wait_p90_s / 60)} → ${mn(p.after.wait_p90_s / 60)} 分钟，将执行 ${p.events.length} 项 · preview: hall P90 ${mn(p.before.wait_p90_s / 60)} → ${mn(p.after.wait_p90_s / 60)} min`;
          li.dataset.previewed = "1";
          apply.classList.remove("hidden");
        } catch (e) { out.textContent = ptext(e); }
      };
      apply.onclick = async () => {
        if (li.dataset.previewed !== "1") return;
        try {
          const a = await SH.api("POST", "/manager/actions", { actions: rec.actions });
          out.textContent = `已应用 ${a.applied} 项 · applied`;
          li.dataset.applied = "1";
          apply.classList.add("hidden");
          sec.dataset.applied = String(rec.rank);
        } catch (e) { out.textContent = ptext(e); }
      };
      list.appendChild(li);
    });
    sec.dataset.loaded = "1";
  }

  document.getElementById("rec-refresh").onclick = load;
  // Start when the console is signed in, and recompute every 2 minutes.
  const start = () => { load(); setInterval(() => { if (!document.hidden && !list.querySelector('[data-previewed="1"]:not([data-applied])')) load(); }, 120000); };
  if (document.body.dataset.ready === "1") start();
  else {
    const mo = new MutationObserver(() => { if (document.body.dataset.ready === "1") { mo.disconnect(); start(); } });
    mo.observe(document.body, { attributes: true, attributeFilter: ["data-ready"] });
  }
})();
