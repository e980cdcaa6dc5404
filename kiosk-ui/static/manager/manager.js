// Manager console: the live hall, alerts (with 电子监察 supervision and
// low-rating follow-ups), device health, the hall screen's notice, charts
// (charts.js), reports, rebalancing with a what-if preview (the server
// clones the engine, applies the proposal and runs the simulator
// before/after), the audit log. Times are the hall's (SH.time).
//
// Live updates: a stream message names what changed; the parts it touches
// are fetched again, coalesced to at most one refresh a second (a burst of
// events costs one /manager/hall, not four GETs each). A notice message
// carries the new text and costs no request.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let hall = { departments: [], items: [], windows: [] }; // /api/v1/hall
  let live = null; // the last /manager/hall
  let proposed = []; // [{action, text: {zh, en}}]
  let previewed = false;
  // Counters for the browser test: refreshes run and GETs sent by them.
  const stats = { refreshes: 0, gets: 0 };
  window.SHManager = stats;
  const m = (s) => (s / 60).toFixed(1);
  const stateZh = { open: "开放 open", paused: "暂停 paused", closed: "关闭 closed" };
  const devState = { online: "在线 online", offline: "离线 offline", fault: "故障 fault", unknown: "未知 unknown", refused: "被拒 refused", alarm: "告警 alarm" };
  const devKind = { "escpos-printer": "取号打印机 printer", "idcard-reader": "身份证读卡器 ID reader", "ticket-button": "取号按钮 ticket button", "led-display": "窗口屏 LED display", "rating-pad": "评价器 rating pad", "caller-keypad": "呼叫器 caller keypad", "qr-scanner": "扫码器 QR scanner", speaker: "音箱 speaker" };
  function ptext(e) { return e.problem ? e.problem.message_zh + " / " + e.problem.message_en + (e.problem.detail ? " — " + e.problem.detail : "") : String(e); }
  async function get(path) { stats.gets++; return SH.api("GET", path); }

  // ---- names: items, departments, serves refs --------------------------
  const itemOf = (code) => hall.items.find(i => i.code === code);
  const deptName = (code) => (hall.departments.find(d => d.code === code) || { name: code }).name;
  function expand(refs) {
    const out = new Set();
    (refs || []).forEach(r => {
      if (r === "*") hall.items.forEach(i => out.add(i.code));
      else if (r.startsWith("dept:")) hall.items.filter(i => i.dept === r.slice(5)).forEach(i => out.add(i.code));
      else out.add(r);
    });
    return out;
  }
  function refsText(refs) {
    return (refs || []).map(r => r === "*" ? "全部事项" : r.startsWith("dept:") ? deptName(r.slice(5)) + "业务" : (itemOf(r) || { name: r }).name).join("、");
  }
  function refsEN(refs) {
    return (refs || []).map(r => r === "*" ? "all items" : r.startsWith("dept:") ? "all items of " + deptName(r.slice(5)) : (itemOf(r) ? itemOf(r).name + " (" + r + ")" : r)).join(", ");
  }
  // describe words an action as the server does (ctl.DescribeAction) until
  // the preview answers its own text.
  function describe(a, numbers) {
    const w = a.window + " 号窗口", we = "window " + a.window;
    let t = [], refs;
    switch (a.type) {
      case "open": t = ["开启 " + w, "open " + we]; break;
      case "close": t = ["关闭 " + w, "close " + we]; break;
      case "pause": t = ["暂停 " + w, "pause " + we]; break;
      case "resume": t = ["恢复 " + w, "resume " + we]; break;
      case "set_backup": t = a.refs && a.refs.length ? [w + "后备办理：" + refsText(a.refs), we + " backs up: " + refsEN(a.refs)] : [w + "取消后备事项", we + " has no backup items"]; break;
      case "set_serves": {
        const cur = live && live.windows.find(x => x.number === a.window);
        t = [w + "办理范围改为：" + refsText(a.refs), we + " serves: " + refsEN(a.refs)];
        if (!a.refs || !a.refs.length) { t = [w + "停办全部事项", we + " serves nothing"]; break; }
        if (cur) {
          const before = expand(cur.serves), after = expand(a.refs);
          const added = [...after].filter(x => !before.has(x)), removed = [...before].filter(x => !after.has(x));
          if (!added.length && !removed.length) t = [w + "办理范围不变：" + refsText(a.refs), we + " serves the same: " + refsEN(a.refs)];
          else if (!removed.length) {
            refs = a.refs.filter(r => !cur.serves.includes(r));
            if (expand(refs).size !== added.length) refs = added;
            t = [w + "增办：" + refsText(refs), we + " also serves: " + refsEN(refs)];
          } else if (!added.length) t = [w + "停办：" + refsText(removed), we + " stops serving: " + refsEN(removed)];
        }
        break;
      }
      case "move": {
        const to = [], toEN = [];
        if (a.to_item) { to.push("转办 " + refsText([a.to_item])); toEN.push("to item " + refsEN([a.to_item])); }
        if (a.to_window) { to.push("到 " + a.to_window + " 号窗口办理"); toEN.push("to window " + a.to_window); }
        t = ["将 " + (numbers || []).join("、") + " " + to.join("，"), "move " + (numbers || []).join(", ") + " " + toEN.join(", ")];
        break;
      }
      case "set_notice": t = ["修改大厅公告", "hall notice changed"]; break;
      default: t = ["其他操作", "other action"];
    }
    if (a.reason) { t[0] += "（原因：" + a.reason + "）"; t[1] += " (reason: " + a.reason + ")"; }
    return { zh: t[0], en: t[1] };
  }

  // ---- live parts --------------------------------------------------------
  async function loadHall() {
    let h;
    try { h = await get("/manager/hall"); } catch (e) { $("rb-msg").textContent = ptext(e); return; }
    live = h;
    const it = $("items").tBodies[0]; it.replaceChildren();
    h.items.forEach(i => { const tr = it.insertRow(); tr.dataset.item = i.code;
      tr.innerHTML = SH.html`<td>${i.name || i.code} <span class="muted">${i.code}</span></td><td class="num" data-waiting="${i.waiting}">${i.waiting}</td><td class="num">${m(i.oldest_wait_s)} 分</td><td class="num">${i.est_p50_s ? m(i.est_p50_s) + "–" + m(i.est_p90_s) + " 分" : "—"}</td>`; });
    const wt = $("windows").tBodies[0]; wt.replaceChildren();
    h.windows.forEach(w => { const tr = wt.insertRow(); tr.dataset.window = w.number;
      tr.innerHTML = SH.html`<td>${w.number} 号${w.zone ? "（" + w.zone + "）" : ""}</td><td><span class="pill ${w.state}">${stateZh[w.state] || w.state}</span> ${w.note || ""}</td><td>${w.current_number || ""}</td><td>${w.clerk || ""}</td><td class="num">${Math.round(w.utilisation * 100)}%</td><td>${refsText(w.serves)}${w.backup && w.backup.length ? " / 后备 " + refsText(w.backup) : ""}</td>`; });
    const al = $("alerts"); al.replaceChildren(); if (!h.alerts.length) al.innerHTML = SH.html`<p class="muted">无 none</p>`;
    h.alerts.forEach(a => { const d = document.createElement("div"); d.className = "alert " + a.level; d.dataset.kind = a.kind; d.textContent = a.message_zh + (a.message_en ? " · " + a.message_en : ""); al.appendChild(d); });
    const dt = $("devices").tBodies[0]; dt.replaceChildren();
    h.devices.forEach(d => { const tr = dt.insertRow(); tr.innerHTML = SH.html`<td>${d.agent}</td><td>${d.device}${d.window ? " · " + d.window + " 号窗口" : ""}</td><td>${devKind[d.kind] || d.kind}</td><td><span class="pill ${d.state === "online" ? "open" : d.state}">${devState[d.state] || d.state} ${d.code || ""}</span></td>`; });
    checkStale();
  }

  function auditText(e) {
    const other = { set_notice: "修改大厅公告", book_appointment: "预约登记", cancel_appointment: "取消预约",
      disable_subject: "停用账号", enable_subject: "启用账号",
      replay_dead_letter: "重新发送办件事件", discard_dead_letter: "作废办件事件" }[e.action.type];
    if (other) return other + (e.detail ? "：" + e.detail : "");
    if (e.text && e.text.zh) return e.text.zh;
    return describe(e.action, e.action.tickets ? [e.action.tickets.length + " 个号"] : []).zh;
  }
  async function loadAudit() {
    try {
      const au = await get("/manager/audit");
      const at = $("audit").tBodies[0]; at.replaceChildren();
      au.slice(0, 30).forEach(e => { const tr = at.insertRow(); tr.innerHTML = SH.html`<td>${SH.dateTime(e.at)}</td><td>${e.actor} (${e.role})</td><td>${auditText(e)}</td><td class="num">${e.events}</td>`; });
    } catch (_) {}
  }
  // The 差评 follow-ups (issue 14): state, reasons and comment, the step's
  // deadline, and a button for each step possible now (close always).
  const fuState = { pending: "待核实 pending", verified: "已核实 verified", rectifying: "整改中 rectifying", feedback: "已反馈 feedback",
    closed: "已办结 closed", appealed: "申诉中 appealed", appeal_accepted: "申诉成立 appeal accepted" };
  const fuStep = { verify: "核实 Verify", rectify: "整改 Rectify", feedback: "反馈 Feedback", close: "办结 Close",
    uphold: "维持差评 Uphold", "accept-appeal": "申诉成立 Accept appeal" };
  const reasonName = (code) => ((hall && hall.rating_reasons) || []).find(r => r.code === code)?.zh || code;
  async function loadFollowups() {
    try {
      const fs = await get("/manager/followups");
      const ft = $("followups").tBodies[0]; ft.replaceChildren();
      fs.slice().reverse().slice(0, 50).forEach(f => { const tr = ft.insertRow(); tr.dataset.ticket = f.ticket; tr.dataset.state = f.state || "";
        const label = fuState[f.state] || (f.closed ? "已办结 closed" : "待核实 pending");
        const st = f.overdue && !f.closed ? SH.html`<span class="overdue">${label} · 已超期 overdue</span>` : label;
        const why = (f.reasons || []).map(reasonName).join("、");
        const deadline = f.step_deadline ? f.step_deadline + "（全程 " + f.deadline + "）" : f.deadline;
        const steps = (f.next || (f.closed ? [] : ["close"])).filter(a => fuStep[a]);
        tr.innerHTML = SH.html`<td>${f.number}</td><td>${f.window} 号 · ${f.clerk || ""}</td><td>${(itemOf(f.item) || { name: f.item }).name}</td><td>${f.serial || ""}</td><td class="num">${f.level}</td><td>${why}${f.comment ? SH.html`<div class="muted">“${f.comment}”</div>` : ""}</td><td>${deadline}</td><td>${st}</td><td class="fu-steps"></td>`;
        const cell = tr.querySelector(".fu-steps");
        steps.forEach(a => {
          const b = document.createElement("button"); b.className = "btn fu-step"; b.dataset.step = a; b.textContent = fuStep[a];
          b.onclick = async () => {
            const note = prompt(fuStep[a] + " — 说明 Note", ""); if (note === null) return;
            try { await SH.api("POST", "/manager/followups/" + f.ticket + "/" + a, { note }); schedule(["followups", "hall", "audit"]); } catch (e) { $("rb-msg").textContent = ptext(e); }
          };
          cell.append(b);
        });
      });
    } catch (_) {}
  }
  // Dead letters: shown only while there are some (the hall has a case
  // system or a supervision platform, and one of its events could not be
  // delivered). Each outbox's routes take ?outbox=cases|supervision.
  // A hall without one of them answers no_case_system for it; any other
  // failure is shown.
  async function loadDead() {
    const ds = [];
    for (const ob of ["cases", "supervision"]) {
      try { ((await get("/manager/dead-letters?outbox=" + ob)).dead_letters || []).forEach(d => ds.push(Object.assign({}, d, { outbox: ob }))); }
      catch (e) { if (e.code !== "no_case_system") $("rb-msg").textContent = ptext(e); }
    }
    $("dead-card").classList.toggle("hidden", ds.length === 0);
    const tb = $("dead").tBodies[0]; tb.replaceChildren();
    ds.forEach(d => {
      const tr = tb.insertRow(); tr.dataset.key = d.key; tr.dataset.outbox = d.outbox;
      const q = "?outbox=" + d.outbox;
      tr.innerHTML = SH.html`<td>${d.outbox === "supervision" ? "电子监察 Supervision · " : ""}${d.event.type}</td><td>${d.event.serial || d.event.case}</td><td>${d.event.number || ""}</td><td class="num">${d.attempts}</td><td>${SH.dateTime(d.dead_at)}</td><td>${d.last_error || ""}</td><td><button class="btn replay-dl" type="button">重新发送 Replay</button> <button class="btn discard-dl" type="button">作废 Discard</button></td>`;
      tr.querySelector(".replay-dl").onclick = async () => {
        try { await SH.api("POST", "/manager/dead-letters/" + encodeURIComponent(d.key) + "/replay" + q, {}); schedule(["dead", "hall", "audit"]); } catch (e) { $("rb-msg").textContent = ptext(e); }
      };
      tr.querySelector(".discard-dl").onclick = async () => {
        const reason = prompt("作废原因（记入审计）Why may this event be dropped? (audited)", ""); if (!reason) return;
        try { await SH.api("POST", "/manager/dead-letters/" + encodeURIComponent(d.key) + "/discard" + q, { reason }); schedule(["dead", "hall", "audit"]); } catch (e) { $("rb-msg").textContent = ptext(e); }
      };
    });
  }
  $("dead-replay-all").onclick = async () => {
    try {
      const outboxes = new Set([...$("dead").tBodies[0].rows].map(tr => tr.dataset.outbox)); // those listing dead letters
      for (const ob of outboxes) await SH.api("POST", "/manager/dead-letters/replay?outbox=" + ob, {});
      schedule(["dead", "hall", "audit"]);
    } catch (e) { $("rb-msg").textContent = ptext(e); }
  };
  const loaders = { hall: loadHall, audit: loadAudit, followups: loadFollowups, dead: loadDead };

  // schedule coalesces refreshes: the parts asked for are fetched together,
  // at most once a second.
  let want = new Set(), timer = null, running = false, lastRun = 0;
  function schedule(parts) {
    parts.forEach(p => want.add(p));
    if (timer || running || !want.size) return;
    timer = setTimeout(run, Math.max(0, lastRun + 1000 - Date.now()));
  }
  async function run() {
    timer = null; running = true; lastRun = Date.now();
    const parts = [...want]; want = new Set();
    stats.refreshes++;
    try { await Promise.all(parts.map(p => loaders[p]())); } finally {
      running = false; document.body.dataset.refreshes = String(stats.refreshes);
      if (want.size) schedule([]);
    }
  }
  function onMessage(msg) {
    switch (msg.kind) {
      case "notice": showNotice(msg.notice); schedule(["audit"]); break;
      case "rating": schedule(["hall", "followups"]); break;
      case "queue": case "device": schedule(["hall"]); break;
      case "card": break;
      default: schedule(["hall", "audit", "followups", "dead"]); // hello, lagged
    }
  }

  // ---- notice --------------------------------------------------------------
  function showNotice(text) { $("notice-now").textContent = text || "（无 none）"; document.body.dataset.notice = text || ""; }
  $("notice-text").addEventListener("input", () => { $("notice-count").textContent = [...$("notice-text").value].length + " / 300"; });
  $("notice-save").onclick = async () => {
    const text = $("notice-text").value.trim();
    if (!text) { $("notice-msg").textContent = "请填写公告内容 Write the notice first"; return; }
    try {
      const r = await SH.api("PUT", "/manager/notice", { text });
      showNotice(r.text); $("notice-text").value = ""; $("notice-count").textContent = "0 / 300";
      $("notice-msg").textContent = "已发布到大厅屏 Published " + SH.time(new Date());
      schedule(["audit"]);
    } catch (e) { $("notice-msg").textContent = ptext(e); }
  };

  // ---- rebalance -------------------------------------------------------------
  function setApply(on) {
    const b = $("apply"); b.disabled = !on; b.setAttribute("aria-disabled", String(!on));
    $("apply-hint").textContent = on ? "预览已完成，可执行 Ready to apply" : proposed.length ? "先预览再执行 Preview first" : "先添加调整并预览 Add a change and preview first";
  }
  function renderProposed() {
    const ol = $("proposed"); ol.replaceChildren();
    proposed.forEach((p, i) => {
      const li = document.createElement("li");
      li.innerHTML = SH.html`<span class="txt">${p.text.zh}</span>${p.text.en ? SH.html` <span class="muted">${p.text.en}</span>` : ""}<button class="btn rm" type="button">删除 Remove</button>`;
      li.querySelector(".rm").setAttribute("aria-label", "删除 Remove：" + p.text.zh);
      li.querySelector(".rm").onclick = () => { proposed.splice(i, 1); invalidate(); };
      ol.appendChild(li);
    });
    $("proposed-empty").classList.toggle("hidden", proposed.length > 0);
  }
  function invalidate() {
    previewed = false; renderProposed(); setApply(false);
    $("preview-table").classList.add("hidden"); $("preview-stale").classList.add("hidden"); window.lastPreview = null;
  }
  function showFields() {
    const ty = $("a-type").value;
    document.querySelectorAll("#action-form [data-for]").forEach(l => {
      const f = l.dataset.for;
      l.classList.toggle("hidden", f === "window" ? ty === "move" : f === "refs" ? !(ty === "set_serves" || ty === "set_backup") : ty !== "move");
    });
  }
  $("a-type").addEventListener("change", showFields);
  $("a-add").onclick = async () => {
    const a = { type: $("a-type").value };
    let numbers = [];
    if (a.type !== "move") {
      const w = Number($("a-window").value);
      if (!w) { $("rb-msg").textContent = "请填写窗口号 Enter a window number"; return; }
      a.window = w;
    }
    if (a.type === "set_serves" || a.type === "set_backup") a.refs = [...$("a-refs").selectedOptions].map(o => o.value);
    if (a.type === "move") {
      numbers = $("a-tickets").value.split(/[,，、\s]+/).filter(Boolean).map(n => n.toUpperCase());
      if (!numbers.length) { $("rb-msg").textContent = "请填写号码 Enter ticket numbers"; return; }
      let snap;
      try { snap = await get("/snapshot"); } catch (e) { $("rb-msg").textContent = ptext(e); return; }
      const ids = {}; snap.waiting.forEach(t => { ids[t.number] = t.id; });
      const missing = numbers.filter(n => !ids[n]);
      if (missing.length) { $("rb-msg").textContent = "没有在等候的号码 Not waiting: " + missing.join("、"); return; }
      a.tickets = numbers.map(n => ids[n]);
      if ($("a-to-item").value) a.to_item = $("a-to-item").value;
      if (Number($("a-to-window").value)) a.to_window = Number($("a-to-window").value);
    }
    if ($("a-reason").value) a.reason = $("a-reason").value.trim();
    proposed.push({ action: a, text: describe(a, numbers) });
    $("rb-msg").textContent = "";
    invalidate();
  };
  $("clear").onclick = () => { proposed = []; invalidate(); $("rb-msg").textContent = ""; };

  $("preview").onclick = async () => {
    if (!proposed.length) { $("rb-msg").textContent = "先添加调整 Add a change first"; return; }
    $("rb-msg").textContent = "模拟中… simulating…";
    try {
      const r = await SH.api("POST", "/manager/preview", { actions: proposed.map(p => p.action), horizon_s: Number($("horizon").value) });
      (r.actions_text || []).forEach((t, i) => { if (proposed[i]) proposed[i].text = t; });
      renderProposed();
      const tb = $("preview-table").tBodies[0]; tb.replaceChildren();
      const codes = hall.items.map(i => i.code).filter(c => r.before.items[c]);
      Object.keys(r.before.items).sort().forEach(c => { if (!codes.includes(c)) codes.push(c); });
      codes.forEach(code => {
        const b = r.before.items[code], a = r.after.items[code];
        const d = a.p90_s - b.p90_s;
        const n = (r.waiting_now || {})[code] || 0;
        const tr = tb.insertRow(); tr.dataset.item = code;
        tr.innerHTML = SH.html`<td>${(itemOf(code) || { name: code }).name}</td><td class="num" data-waiting="${n}">${n}</td><td class="num">${b.arrivals.toFixed(1)}</td><td class="num">${b.tickets.toFixed(1)} → ${a.tickets.toFixed(1)}</td><td class="num">${b.unserved.toFixed(1)} → ${a.unserved.toFixed(1)}</td><td class="num" data-before>${m(b.p50_s)} / ${m(b.p90_s)} 分</td><td class="num" data-after>${m(a.p50_s)} / ${m(a.p90_s)} 分</td><td class="num ${d < -30 ? "better" : d > 30 ? "worse" : ""}">${d <= 0 ? "" : "+"}${m(d)} 分</td>`;
      });
      $("preview-table").tFoot.innerHTML = SH.html`<tr><td>全部 all</td><td class="num">${Object.values(r.waiting_now || {}).reduce((x, y) => x + y, 0)}</td><td></td><td></td><td></td><td class="num" id="all-before">${m(r.before.wait_p50_s)} / ${m(r.before.wait_p90_s)} 分</td><td class="num" id="all-after">${m(r.after.wait_p50_s)} / ${m(r.after.wait_p90_s)} 分</td><td></td></tr>`;
      $("preview-caption").textContent = `大厅时间 ${SH.time(r.at)} 的状态 · 现在等候与上方「事项」表同一口径（排队中的号，不含已叫号${r.transferred_now ? "；另有 " + r.transferred_now + " 个号已转到窗口" : "、转到窗口的号"}）· 期内叫号 = 现在等候 + 预计新到 − 期末仍等候（调整前 → 调整后）· As of ${SH.time(r.at)} hall time; waiting counted as in the items table`;
      $("preview-table").classList.remove("hidden");
      $("rb-msg").textContent = `未来 ${r.horizon_s / 3600} 小时，${r.replications} 次模拟（种子 ${r.seed}），按今日到达率预测 · next ${r.horizon_s / 3600} h, ${r.replications} replications`;
      previewed = true; setApply(proposed.length > 0);
      window.lastPreview = r;
      checkStale();
    } catch (e) { $("rb-msg").textContent = ptext(e); }
  };
  // checkStale says when the hall has changed since the preview (its
  // waiting counts no longer match the live table's).
  function checkStale() {
    const r = window.lastPreview, el = $("preview-stale");
    if (!r || !live || !previewed) { el.classList.add("hidden"); return; }
    const diff = live.items.filter(i => ((r.waiting_now || {})[i.code] || 0) !== i.waiting);
    el.classList.toggle("hidden", diff.length === 0);
    document.body.dataset.previewStale = diff.length ? "1" : "0";
    if (diff.length) el.textContent = `预览之后大厅有变化（${diff.map(i => (i.name || i.code) + " 现在 " + i.waiting + " 人，预览时 " + ((r.waiting_now || {})[i.code] || 0) + " 人").join("；")}），建议重新预览 · The hall changed since the preview — preview again`;
  }

  $("apply").onclick = async () => {
    if (!previewed || !proposed.length) return;
    try {
      const r = await SH.api("POST", "/manager/actions", { actions: proposed.map(p => p.action) });
      $("rb-msg").textContent = `已执行 ${r.applied} 项 applied`;
      proposed = []; invalidate(); schedule(["hall", "audit"]);
    } catch (e) { $("rb-msg").textContent = ptext(e); }
  };

  // ---- charts ----------------------------------------------------------------
  async function loadCharts() {
    const p = new URLSearchParams();
    if ($("c-day").value) p.set("day", $("c-day").value);
    if ($("c-from").value) p.set("from", $("c-from").value);
    if ($("c-to").value) p.set("to", $("c-to").value);
    try {
      const s = await get("/manager/reports/series?" + p.toString());
      $("c-zone").textContent = `时间为大厅时间（${s.zone}）· Times are the hall's (${s.zone})`;
      SHCharts.render(s);
      $("c-msg").textContent = "";
      document.body.dataset.charts = String(Number(document.body.dataset.charts || 0) + 1);
    } catch (e) { $("c-msg").textContent = ptext(e); }
  }
  $("c-show").onclick = loadCharts;

  // ---- reports: JSON for the table and bars, CSV/XLSX by fetch -------------
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
      const rows = await SH.api("GET", reportQuery("json"));
      const tb = $("report-table").tBodies[0]; tb.replaceChildren();
      const maxT = Math.max(1, ...rows.map(r => r.tickets));
      rows.forEach(r => { const tr = tb.insertRow(); tr.dataset.group = r.group;
        const n = r.ratings.reduce((a, b) => a + b, 0) || 1;
        const dist = r.ratings.map((c, i) => SH.html`<span title="${i + 1}: ${c}" class="hbar" data-w="${Math.round(40 * c / n)}" data-o="${0.35 + i * 0.16}"></span>`);
        tr.innerHTML = SH.html`<td>${r.period}</td><td>${r.group} ${r.name || ""}</td><td class="num"><span class="hbar" data-w="${Math.round(80 * r.tickets / maxT)}"></span>${r.tickets}</td><td class="num">${r.served}</td><td class="num">${r.no_shows}</td><td class="num">${mn(r.mean_wait_s)}</td><td class="num">${mn(r.p90_wait_s)}</td><td class="num">${mn(r.mean_service_s)}</td><td class="num">${pct(r.on_time_rate)}</td><td class="num">${pct(r.early_rate)}</td><td class="num">${pct(r.satisfaction)}</td><td>${dist} ${r.ratings.join("/")}</td><td class="num">${pct(r.good_rate)}</td><td class="num">${pct(r.bad_rate)}</td><td class="num">${pct(r.rectify_rate)}</td><td class="num">${pct(r.named_rectify_rate)}</td><td class="num">${pct(r.due_on_time_rate)}${r.due ? " (" + r.due + ")" : ""}</td><td class="num">${r.mean_rating == null ? "—" : r.mean_rating.toFixed(1)}</td>`; SH.styled(tr); });
      $("r-msg").textContent = rows.length ? "" : "无数据 no data";
    } catch (e) { $("r-msg").textContent = ptext(e); }
  };
  async function download(format) {
    try {
      const r = await fetch("/api/v1" + reportQuery(format));
      if (!r.ok) { const p = await r.json(); $("r-msg").textContent = p.message_zh + " — " + (p.detail || ""); return; }
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement("a"); a.href = url; a.download = "report-" + ($("r-from").value || "today") + "." + format; document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) { $("r-msg").textContent = String(e); }
  }
  $("r-csv").onclick = () => download("csv");
  $("r-xlsx").onclick = () => download("xlsx");

  // ---- start -------------------------------------------------------------------
  function fillForm() {
    const refs = $("a-refs"); refs.replaceChildren();
    const opt = (v, t) => { const o = document.createElement("option"); o.value = v; o.textContent = t; return o; };
    refs.appendChild(opt("*", "全部事项 all items"));
    hall.departments.forEach(d => refs.appendChild(opt("dept:" + d.code, d.name + "业务（全部）")));
    hall.items.forEach(i => refs.appendChild(opt(i.code, i.name + " " + i.code)));
    const to = $("a-to-item"); to.replaceChildren(opt("", "（不变 unchanged）"));
    hall.items.forEach(i => to.appendChild(opt(i.code, i.name + " " + i.code)));
  }
  async function start() {
    let me;
    try { me = await SH.api("GET", "/whoami"); } catch (e) { signInNeeded(e.code === "unauthorized" ? "" : ptext(e)); return; }
    if (me.role !== "manager" && me.role !== "admin") { signInNeeded("需要管理员令牌 needs a manager token"); return; }
    $("who").textContent = me.subject || me.role;
    $("login").classList.add("hidden"); $("app").classList.remove("hidden");
    try { hall = await SH.api("GET", "/hall"); } catch (_) {}
    await SH.hallZone();
    fillForm(); showFields(); renderProposed(); setApply(false);
    const today = SH.day(new Date());
    $("c-day").value = today; $("c-to").value = today;
    const from = new Date(today + "T00:00:00Z"); from.setUTCDate(from.getUTCDate() - 13);
    $("c-from").value = from.toISOString().slice(0, 10);
    try { showNotice((await SH.api("GET", "/screen")).notice); } catch (_) {}
    stats.refreshes++;
    await Promise.all([loadHall(), loadAudit(), loadFollowups(), loadCharts()]);
    lastRun = Date.now();
    document.body.dataset.refreshes = String(stats.refreshes);
    document.body.dataset.ready = "1";
    SH.stream(onMessage, (up) => { if (up) schedule(["hall", "audit", "followups", "dead"]); });
    setInterval(() => schedule(["hall", "audit", "followups", "dead"]), 30000);
    setInterval(loadCharts, 300000);
  }
  // Sign-in: the pasted token goes to /api/v1/session (an HttpOnly
  // cookie); it is never put in the URL or the page's storage.
  function signInNeeded(msg) {
    $("login").classList.remove("hidden"); $("app").classList.add("hidden");
    $("login-err").textContent = SH.tokenInURL ? "令牌不能放在网址中，已忽略；请在此粘贴 A token in the URL is refused — paste it here" : msg;
  }
  // Staff sign-in (issue 11): staff id and password; the server sets the
  // HttpOnly session cookie (SH.staffSignIn, common.js).
  $("staff-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const id = $("staff-id").value.trim(), pw = $("staff-pw").value; $("staff-pw").value = "";
    try { await SH.staffSignIn(id, pw); } catch (e) {
      $("login-err").textContent = ptext(e) + (e.retryAfter ? "（请 " + e.retryAfter + " 秒后再试 try again in " + e.retryAfter + " s）" : "");
      return;
    }
    start();
  };
  $("token-go").onclick = async () => {
    const tok = $("token-in").value.trim(); $("token-in").value = "";
    try { await SH.signIn(tok); } catch (e) { $("login-err").textContent = ptext(e); return; }
    start();
  };
  $("sign-out").onclick = async () => { try { await SH.signOut(); } catch (_) {} location.reload(); };
  SH.clock($("clock"));
  start();
})();
