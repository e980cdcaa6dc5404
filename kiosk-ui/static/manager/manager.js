// Manager console: the live hall, alerts (with 电子监察 supervision and
// low-rating follow-ups), device health, reports, rebalancing with
// a what-if preview (the server clones the engine, applies the proposal
// and runs the simulator before/after), the audit log.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let token = SH.token(), proposed = [], previewed = false, snapshotNumbers = {};
  const m = (s) => (s / 60).toFixed(1);
  const stateZh = { open: "开放 open", paused: "暂停 paused", closed: "关闭 closed" };
  function ptext(e) { return e.problem ? e.problem.message_zh + " / " + e.problem.message_en + (e.problem.detail ? " — " + e.problem.detail : "") : String(e); }

  async function refresh() {
    let h;
    try { h = await SH.api("GET", "/manager/hall", undefined, token); } catch (e) { $("rb-msg").textContent = ptext(e); return; }
    const it = $("items").tBodies[0]; it.innerHTML = "";
    h.items.forEach(i => { const tr = it.insertRow(); tr.dataset.item = i.code;
      tr.innerHTML = `<td>${SH.esc(i.code)} ${SH.esc(i.name)}</td><td class="num">${i.waiting}</td><td class="num">${m(i.oldest_wait_s)} 分</td><td class="num">${i.est_p50_s ? m(i.est_p50_s) + "–" + m(i.est_p90_s) + " 分" : "—"}</td>`; });
    const wt = $("windows").tBodies[0]; wt.innerHTML = "";
    h.windows.forEach(w => { const tr = wt.insertRow(); tr.dataset.window = w.number;
      tr.innerHTML = `<td>${w.number}（${SH.esc(w.zone || "")}）</td><td><span class="pill ${w.state}">${stateZh[w.state]}</span> ${SH.esc(w.note || "")}</td><td>${SH.esc(w.current_number || "")}</td><td>${SH.esc(w.clerk || "")}</td><td class="num">${Math.round(w.utilisation * 100)}%</td><td>${SH.esc((w.serves || []).join(","))}${w.backup && w.backup.length ? " / " + SH.esc(w.backup.join(",")) : ""}</td>`; });
    const al = $("alerts"); al.innerHTML = h.alerts.length ? "" : '<p class="muted">无 none</p>';
    h.alerts.forEach(a => { const d = document.createElement("div"); d.className = "alert " + a.level; d.dataset.kind = a.kind; d.textContent = a.message_zh + " · " + a.message_en; al.appendChild(d); });
    const dt = $("devices").tBodies[0]; dt.innerHTML = "";
    h.devices.forEach(d => { const tr = dt.insertRow(); tr.innerHTML = `<td>${SH.esc(d.agent)}</td><td>${SH.esc(d.device)}${d.window ? " · " + d.window + "号窗" : ""}</td><td>${SH.esc(d.kind)}</td><td><span class="pill ${d.state === "online" ? "open" : d.state}">${SH.esc(d.state)} ${SH.esc(d.code || "")}</span></td>`; });
    try {
      const au = await SH.api("GET", "/manager/audit", undefined, token);
      const at = $("audit").tBodies[0]; at.innerHTML = "";
      au.slice(0, 30).forEach(e => { const tr = at.insertRow(); tr.innerHTML = `<td>${new Date(e.at).toLocaleString("zh-CN", { hour12: false })}</td><td>${SH.esc(e.actor)} (${SH.esc(e.role)})</td><td>${SH.esc(describe(e.action))}</td><td class="num">${e.events}</td>`; });
    } catch (_) {}
    try {
      const fs = await SH.api("GET", "/manager/followups", undefined, token);
      const ft = $("followups").tBodies[0]; ft.innerHTML = "";
      fs.slice().reverse().slice(0, 50).forEach(f => { const tr = ft.insertRow(); tr.dataset.ticket = f.ticket;
        const st = f.closed ? "已回访 closed" + (f.note ? "：" + f.note : "") : f.overdue ? '<span class="overdue">已超期 overdue</span>' : "待回访 open";
        tr.innerHTML = `<td>${SH.esc(f.number)}</td><td>${f.window}号 · ${SH.esc(f.clerk || "")}</td><td>${SH.esc(f.item)}</td><td>${SH.esc(f.serial || "")}</td><td class="num">${f.level}</td><td>${SH.esc(f.deadline)}</td><td>${f.closed ? SH.esc(st) : st}</td><td>${f.closed ? "" : '<button class="btn close-fu">办结 Close</button>'}</td>`;
        const b = tr.querySelector(".close-fu");
        if (b) b.onclick = async () => {
          const note = prompt("回访情况 Follow-up note", "") ; if (note === null) return;
          try { await SH.api("POST", "/manager/followups/" + f.ticket + "/close", { note }, token); refresh(); } catch (e) { $("rb-msg").textContent = ptext(e); }
        };
      });
    } catch (_) {}
    try { const s = await SH.api("GET", "/snapshot"); snapshotNumbers = {}; s.waiting.forEach(t => snapshotNumbers[t.number] = t.id); } catch (_) {}
    document.body.dataset.ready = "1";
  }

  function describe(a) {
    const p = [a.type]; if (a.window) p.push("窗口 " + a.window); if (a.refs) p.push("[" + a.refs.join(",") + "]");
    if (a.tickets) p.push("tickets " + a.tickets.join(",")); if (a.to_item) p.push("→ " + a.to_item); if (a.to_window) p.push("→ 窗口 " + a.to_window); if (a.reason) p.push(a.reason);
    return p.join(" ");
  }

  function renderProposed() {
    const ol = $("proposed"); ol.innerHTML = "";
    proposed.forEach(a => { const li = document.createElement("li"); li.textContent = describe(a); ol.appendChild(li); });
    previewed = false; $("apply").disabled = true; $("preview-table").classList.add("hidden");
  }

  $("a-add").onclick = () => {
    const a = { type: $("a-type").value };
    const w = Number($("a-window").value); if (w) a.window = w;
    const refs = $("a-refs").value.split(/[,，\s]+/).filter(Boolean); if (a.type === "set_serves" || a.type === "set_backup") a.refs = refs;
    if (a.type === "move") {
      a.tickets = $("a-tickets").value.split(/[,，\s]+/).filter(Boolean).map(n => snapshotNumbers[n.toUpperCase()] || Number(n)).filter(Boolean);
      if ($("a-to-item").value) a.to_item = $("a-to-item").value.trim();
      if (Number($("a-to-window").value)) a.to_window = Number($("a-to-window").value);
    }
    if ($("a-reason").value) a.reason = $("a-reason").value;
    proposed.push(a); renderProposed();
  };
  $("clear").onclick = () => { proposed = []; renderProposed(); $("rb-msg").textContent = ""; };

  $("preview").onclick = async () => {
    $("rb-msg").textContent = "模拟中… simulating…";
    try {
      const r = await SH.api("POST", "/manager/preview", { actions: proposed, horizon_s: Number($("horizon").value) }, token);
      const tb = $("preview-table").tBodies[0]; tb.innerHTML = "";
      Object.keys(r.before.items).sort().forEach(code => {
        const b = r.before.items[code], a = r.after.items[code];
        const d = a.p90_s - b.p90_s;
        const tr = tb.insertRow(); tr.dataset.item = code;
        tr.innerHTML = `<td>${SH.esc(code)}</td><td class="num">${b.tickets.toFixed(0)}</td><td class="num" data-before>${m(b.p50_s)} / ${m(b.p90_s)} 分</td><td class="num" data-after>${m(a.p50_s)} / ${m(a.p90_s)} 分</td><td class="num ${d < -30 ? "better" : d > 30 ? "worse" : ""}">${d <= 0 ? "" : "+"}${m(d)} 分</td>`;
      });
      $("preview-table").tFoot.innerHTML = `<tr><td>全部 all</td><td></td><td class="num" id="all-before">${m(r.before.wait_p50_s)} / ${m(r.before.wait_p90_s)} 分</td><td class="num" id="all-after">${m(r.after.wait_p50_s)} / ${m(r.after.wait_p90_s)} 分</td><td></td></tr>`;
      $("preview-table").classList.remove("hidden");
      $("rb-msg").textContent = `未来 ${r.horizon_s / 3600} 小时，${r.replications} 次模拟（种子 ${r.seed}），按今日到达率预测 · next ${r.horizon_s / 3600} h, ${r.replications} replications`;
      previewed = true; $("apply").disabled = proposed.length === 0;
      window.lastPreview = r;
    } catch (e) { $("rb-msg").textContent = ptext(e); }
  };

  $("apply").onclick = async () => {
    if (!previewed || !proposed.length) return;
    try {
      const r = await SH.api("POST", "/manager/actions", { actions: proposed }, token);
      $("rb-msg").textContent = `已执行 ${r.applied} 项 applied`;
      proposed = []; renderProposed(); refresh();
    } catch (e) { $("rb-msg").textContent = ptext(e); }
  };

  // Reports: JSON for the table and bars, CSV/XLSX downloaded with the
  // token (a plain link could not send it).
  function reportQuery(format) {
    // Empty dates: the hall's today (the server knows the hall's time zone).
    const p = new URLSearchParams({ by: $("r-by").value, period: $("r-period").value, format });
    if ($("r-from").value) p.set("from", $("r-from").value);
    if ($("r-to").value) p.set("to", $("r-to").value);
    return "/manager/reports?" + p.toString();
  }
  const pct = (x) => x === null || x === undefined ? "—" : Math.round(x * 100) + "%";
  const mn = (x) => x === null || x === undefined ? "—" : m(x) + " 分";
  $("r-show").onclick = async () => {
    try {
      const rows = await SH.api("GET", reportQuery("json"), undefined, token);
      const tb = $("report-table").tBodies[0]; tb.innerHTML = "";
      const maxT = Math.max(1, ...rows.map(r => r.tickets));
      rows.forEach(r => { const tr = tb.insertRow(); tr.dataset.group = r.group;
        const n = r.ratings.reduce((a, b) => a + b, 0) || 1;
        const dist = r.ratings.map((c, i) => `<span title="${i + 1}: ${c}" class="hbar" style="width:${Math.round(40 * c / n)}px;opacity:${0.35 + i * 0.16}"></span>`).join("");
        tr.innerHTML = `<td>${SH.esc(r.period)}</td><td>${SH.esc(r.group)} ${SH.esc(r.name || "")}</td><td class="num"><span class="hbar" style="width:${Math.round(80 * r.tickets / maxT)}px"></span>${r.tickets}</td><td class="num">${r.served}</td><td class="num">${r.no_shows}</td><td class="num">${mn(r.mean_wait_s)}</td><td class="num">${mn(r.p90_wait_s)}</td><td class="num">${mn(r.mean_service_s)}</td><td class="num">${pct(r.on_time_rate)}</td><td class="num">${pct(r.early_rate)}</td><td class="num">${pct(r.satisfaction)}</td><td>${dist} ${r.ratings.join("/")}</td>`; });
      $("r-msg").textContent = rows.length ? "" : "无数据 no data";
    } catch (e) { $("r-msg").textContent = ptext(e); }
  };
  async function download(format) {
    try {
      const r = await fetch("/api/v1" + reportQuery(format), { headers: { Authorization: "Bearer " + token } });
      if (!r.ok) { const p = await r.json(); $("r-msg").textContent = p.message_zh + " — " + (p.detail || ""); return; }
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement("a"); a.href = url; a.download = "report-" + ($("r-from").value || "today") + "." + format; document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) { $("r-msg").textContent = String(e); }
  }
  $("r-csv").onclick = () => download("csv");
  $("r-xlsx").onclick = () => download("xlsx");

  async function start() {
    let me;
    try { me = await SH.api("GET", "/whoami", undefined, token); } catch (e) { $("login").classList.remove("hidden"); $("login-err").textContent = token ? ptext(e) : ""; return; }
    if (me.role !== "manager" && me.role !== "admin") { $("login").classList.remove("hidden"); $("login-err").textContent = "需要管理员令牌 needs a manager token"; return; }
    $("who").textContent = me.subject || me.role;
    $("login").classList.add("hidden"); $("app").classList.remove("hidden");
    await refresh();
    let t = null;
    SH.stream(() => { clearTimeout(t); t = setTimeout(refresh, 400); }, (up) => { if (up) refresh(); });
    setInterval(refresh, 30000);
  }
  $("token-go").onclick = () => { token = $("token-in").value.trim(); try { sessionStorage.setItem("sh-token", token); } catch (_) {} start(); };
  SH.clock($("clock"));
  start();
})();
