// Self-service kiosk: browse items, read the guide, take a ticket (walk-in,
// appointment, ID card), look a ticket up, rate a service. Bound to its
// agent with ?agent=ID (the ticket prints on that agent's printer and its
// ID-card reader's reads arrive on this page's stream). Resets after
// ?idle=S seconds (default 60) without a touch.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const agent = SH.q.get("agent") || "";
  const idleS = Number(SH.q.get("idle") || 60);
  let lang = SH.q.get("lang") === "en" ? "en" : "zh";
  let hall = null, dept = "", item = null, card = null, lastTicket = null, idleLeft = idleS;

  const T = {
    zh: { all: "全部", ahead: "前面 {n} 人", min: "分钟", eta: "{a}–{b} 分钟", printed: "号票已打印，请取票", notPrinted: "本机未连接打印机，请记下号码", printFailed: "号票未能打印（{code}）。您的号码已登记，请记下号码，或点“重新打印”。", printPending: "正在打印，如未出票请点“重新打印”或记下号码", reprinting: "正在重新打印…",
      window: "请到 {w} 办理", state: { waiting: "排队中", called: "已叫号，请到窗口", serving: "办理中", finished: "已办结", no_show: "已过号", transferred: "已转移", cancelled: "已取消" },
      card: "已读取身份证：{name}（{id}）。请选择事项，将按身份证取号。", idle: "{s} 秒无操作将返回首页", promised: "承诺件，承诺 {d} 个工作日办结", immediate: "即办件，当场办结", none: "无",
      res: "号码 {n} · {item}", resAhead: "前面还有 {n} 人，预计 {a}–{b} 分钟", win: "窗口：{w} 号", elderly: "（老年人优先）", rated: "该号已评价，谢谢" },
    en: { all: "All", ahead: "{n} ahead", min: "min", eta: "{a}–{b} min", printed: "Your ticket is printed — please take it", notPrinted: "No printer here — please note your number", printFailed: "The ticket could not be printed ({code}). Your number is registered: note it, or tap Reprint.", printPending: "Printing… if no ticket comes out, tap Reprint or note your number", reprinting: "Reprinting…",
      window: "Go to {w}", state: { waiting: "waiting", called: "called — go to the window", serving: "being served", finished: "finished", no_show: "missed (no-show)", transferred: "transferred", cancelled: "cancelled" },
      card: "ID card read: {name} ({id}). Choose a service to take a ticket with it.", idle: "Back to start in {s} s", promised: "Promised: done within {d} working days", immediate: "Done on the spot", none: "none",
      res: "Number {n} · {item}", resAhead: "{n} ahead, about {a}–{b} min", win: "Window {w}", elderly: " (senior priority)", rated: "Already rated, thank you" },
  };
  const t = (k, vars) => { let s = k.split(".").reduce((o, p) => o && o[p], T[lang]) || k; for (const v in vars || {}) s = s.replace("{" + v + "}", vars[v]); return s; };

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-zh]").forEach(el => { el.textContent = el.dataset[lang]; });
    document.querySelectorAll("[data-ph-zh]").forEach(el => { el.placeholder = lang === "zh" ? el.dataset.phZh : el.dataset.phEn; });
    $("lang").textContent = lang === "zh" ? "English" : "中文";
    renderDepts(); renderItems(); renderCard();
  }

  function show(id) {
    document.querySelectorAll(".screen").forEach(s => s.classList.toggle("hidden", s.id !== id));
    document.body.dataset.screen = id;
    window.scrollTo(0, 0);
  }

  function reset() {
    card = null; item = null; dept = ""; lastTicket = null;
    $("search").value = ""; $("appt-code").value = ""; $("lookup-no").value = "";
    ["take-err", "appt-err", "lookup-err"].forEach(i => $(i).textContent = "");
    $("lookup-res").classList.add("hidden"); $("rate-box").classList.add("hidden"); $("rate-done").classList.add("hidden");
    if (SH.q.get("lang") !== "en" && lang !== "zh") { lang = "zh"; applyLang(); }
    renderCard(); renderDepts(); renderItems(); show("home");
  }

  // Idle reset: any touch or key restarts the countdown.
  ["pointerdown", "keydown", "input"].forEach(e => document.addEventListener(e, () => { idleLeft = idleS; }, true));
  setInterval(() => {
    idleLeft--;
    const home = document.body.dataset.screen === "home" && !card;
    $("idle").textContent = home || idleLeft > 20 ? "" : t("idle", { s: Math.max(0, idleLeft) });
    if (idleLeft <= 0) { idleLeft = idleS; if (!home) reset(); }
  }, 1000);

  function deptName(code) { const d = (hall.departments || []).find(d => d.code === code); return d ? d.name : code; }

  function renderDepts() {
    if (!hall) return;
    const el = $("depts");
    el.innerHTML = "";
    const mk = (code, label) => { const b = document.createElement("button"); b.textContent = label; b.dataset.dept = code; b.className = dept === code ? "on" : ""; b.onclick = () => { dept = code; renderDepts(); renderItems(); }; el.appendChild(b); };
    mk("", t("all"));
    (hall.departments || []).forEach(d => mk(d.code, d.name));
  }

  let waiting = {};
  function renderItems() {
    if (!hall) return;
    const s = $("search").value.trim().toLowerCase();
    const list = $("item-list");
    list.innerHTML = "";
    hall.items.filter(i => (!dept || i.dept === dept) && (!s || i.name.toLowerCase().includes(s) || i.code.toLowerCase().includes(s) || deptName(i.dept).includes(s)))
      .forEach(i => {
        const b = document.createElement("button");
        b.className = "item"; b.dataset.item = i.code;
        b.innerHTML = `<span><b>${SH.esc(i.name)}</b><br><small>${SH.esc(deptName(i.dept))} · ${SH.esc(i.code)}</small></span><span class="w">${SH.esc(t("ahead", { n: waiting[i.code] || 0 }))}</span>`;
        b.onclick = () => openGuide(i);
        list.appendChild(b);
      });
  }

  function openGuide(i) {
    item = i;
    $("guide-title").textContent = i.name;
    $("guide-cond").textContent = i.guide.conditions || t("none");
    const ol = $("guide-mat"); ol.innerHTML = "";
    (i.guide.materials.length ? i.guide.materials : [t("none")]).forEach(m => { const li = document.createElement("li"); li.textContent = m; ol.appendChild(li); });
    $("guide-fee").textContent = i.guide.fee || t("none");
    $("guide-loc").textContent = i.guide.location || t("none");
    $("guide-kind").textContent = i.kind === "promised" ? t("promised", { d: i.promise_days }) : t("immediate");
    $("take-err").textContent = "";
    show("guide");
  }

  function problemText(e) { return e.problem ? (lang === "zh" ? e.problem.message_zh : e.problem.message_en) : String(e); }

  function showTicket(tk) {
    lastTicket = tk;
    $("t-item").textContent = tk.item_name + (tk.class === "elderly" ? t("elderly") : "");
    $("t-number").textContent = tk.number;
    $("t-ahead").textContent = tk.ahead;
    $("t-eta").textContent = t("eta", { a: SH.mins(tk.eta_p50_s), b: SH.mins(tk.eta_p90_s) });
    $("t-window").textContent = tk.window_hint ? t("window", { w: tk.window_hint }) : "";
    const codes = { paper_out: lang === "zh" ? "打印机缺纸" : "out of paper", expired: lang === "zh" ? "打印机无响应" : "no answer", no_ack: lang === "zh" ? "打印机无响应" : "no answer", no_answer: lang === "zh" ? "打印机无响应" : "no answer" };
    const st = tk.print || "";
    $("t-printed").textContent = st === "printed" ? t("printed") : st === "failed" ? t("printFailed", { code: codes[tk.print_code] || tk.print_code || "" })
      : st === "pending" ? t("printPending") : t("notPrinted");
    $("t-printed").classList.toggle("err", st === "failed");
    $("reprint").classList.toggle("hidden", !(agent && (st === "failed" || st === "pending")));
    card = null; renderCard();
    show("ticket");
  }

  async function reprint() {
    if (!lastTicket || !agent) return;
    $("t-printed").textContent = t("reprinting");
    try { showTicket(Object.assign({}, lastTicket, await SH.api("POST", "/tickets/" + encodeURIComponent(lastTicket.number) + "/reprint", { agent }))); }
    catch (e) { $("t-printed").textContent = problemText(e); }
  }

  let busy = false;
  async function take() {
    if (busy || !item) return;
    busy = true;
    try {
      const tk = await SH.api("POST", "/tickets", { item: item.code, agent: agent || undefined, card: !!card, request_id: SH.rid() });
      showTicket(tk);
    } catch (e) { $("take-err").textContent = problemText(e); }
    finally { busy = false; }
  }

  async function checkin() {
    const code = $("appt-code").value.trim().toUpperCase();
    if (!code) return;
    try { showTicket(await SH.api("POST", "/appointments/" + encodeURIComponent(code) + "/checkin", { agent: agent || undefined })); }
    catch (e) { $("appt-err").textContent = problemText(e); }
  }

  let lookupMode = "lookup";
  async function lookup() {
    const no = $("lookup-no").value.trim().toUpperCase();
    $("lookup-err").textContent = ""; $("rate-done").classList.add("hidden");
    if (!no) return;
    if (no.length > 12) return caseLookup($("lookup-no").value.trim());
    try {
      const r = await SH.api("GET", "/tickets/" + encodeURIComponent(no));
      const res = $("lookup-res");
      let h = `<div class="n">${SH.esc(r.number)}</div><p>${SH.esc(t("res", { n: r.number, item: r.item_name }))}</p><p><b>${SH.esc(t("state." + r.state))}</b></p>`;
      if (r.state === "waiting") h += `<p>${SH.esc(t("resAhead", { n: r.ahead, a: SH.mins(r.now_p50_s), b: SH.mins(r.now_p90_s) }))}</p>`;
      if (r.window) h += `<p>${SH.esc(t("win", { w: r.window }))}</p>`;
      if (r.rated) h += `<p class="muted">${SH.esc(t("rated"))}</p>`;
      res.innerHTML = h; res.classList.remove("hidden");
      $("rate-box").classList.toggle("hidden", !r.rateable);
      $("rate-box").dataset.number = r.number;
    } catch (e) { $("lookup-err").textContent = problemText(e); $("lookup-res").classList.add("hidden"); $("rate-box").classList.add("hidden"); }
  }

  // caseLookup shows a case's progress by its serial number (统一业务流水号),
  // typed or scanned from the acceptance receipt's QR code (…/c/SERIAL).
  const caseStatus = { accepted: "已受理 Accepted", in_review: "审查中 In review", approved: "已办结（准予）Approved",
    rejected: "已办结（不予）Rejected", ready_for_pickup: "待领取 Ready for pickup" };
  async function caseLookup(input) {
    const serial = input.replace(/^.*\/c\//, "").replace(/[?#].*$/, "");
    try {
      const p = await SH.api("GET", "/cases/" + encodeURIComponent(serial));
      const res = $("lookup-res");
      let h = `<div class="n case-serial">${SH.esc(p.serial)}</div><p>${SH.esc(p.item_name)}</p><p><b class="case-status" data-status="${SH.esc(p.status)}">${SH.esc(caseStatus[p.status] || p.status)}</b></p>`;
      if (p.due) h += `<p>承诺办结 Due: ${SH.esc(p.due)}</p>`;
      (p.history || []).forEach(x => { h += `<p class="muted">${new Date(x.at).toLocaleString("zh-CN", { hour12: false })} · ${SH.esc(caseStatus[x.status] || x.status)}${x.note ? " · " + SH.esc(x.note) : ""}</p>`; });
      res.innerHTML = h; res.classList.remove("hidden"); $("rate-box").classList.add("hidden");
    } catch (e) { $("lookup-err").textContent = e.problem && !e.problem.message_zh ? (e.problem.detail || e.problem.title) : problemText(e); $("lookup-res").classList.add("hidden"); }
  }

  async function rate(level) {
    const no = $("rate-box").dataset.number;
    try {
      await SH.api("POST", "/tickets/" + encodeURIComponent(no) + "/rating", { level, request_id: SH.rid() });
      $("rate-box").classList.add("hidden"); $("rate-done").classList.remove("hidden");
    } catch (e) { $("lookup-err").textContent = problemText(e); }
  }

  function renderCard() {
    const b = $("card-banner");
    if (!card) { b.classList.add("hidden"); return; }
    b.textContent = t("card", { name: card.masked_name || "", id: card.masked_id || "" });
    b.classList.remove("hidden");
  }

  // On-screen keys for codes and numbers (no system keyboard on kiosks).
  document.querySelectorAll(".keys").forEach(k => {
    const input = $(k.dataset.target);
    "ABCDEFGH1234567890".split("").concat(["⌫", "C"]).forEach(ch => {
      const b = document.createElement("button"); b.textContent = ch; if (ch === "⌫" || ch === "C") b.className = "wide";
      b.onclick = () => { if (ch === "⌫") input.value = input.value.slice(0, -1); else if (ch === "C") input.value = ""; else input.value += ch; };
      k.appendChild(b);
    });
  });

  $("lang").onclick = () => { lang = lang === "zh" ? "en" : "zh"; applyLang(); };
  $("go-take").onclick = () => { renderItems(); show("items"); };
  $("go-appt").onclick = () => show("appt");
  $("go-lookup").onclick = () => { lookupMode = "lookup"; show("lookup"); };
  $("go-rate").onclick = () => { lookupMode = "rate"; show("lookup"); };
  document.querySelectorAll(".back").forEach(b => b.onclick = () => show(document.body.dataset.screen === "guide" ? "items" : "home"));
  document.querySelectorAll(".done").forEach(b => b.onclick = reset);
  $("reprint").onclick = reprint;
  $("search").oninput = renderItems;
  $("take").onclick = take;
  $("appt-go").onclick = checkin;
  $("lookup-go").onclick = lookup;
  $("lookup-no").onkeydown = (e) => { if (e.key === "Enter") lookup(); };
  $("appt-code").onkeydown = (e) => { if (e.key === "Enter") checkin(); };
  document.querySelectorAll("[data-level]").forEach(b => b.onclick = () => rate(Number(b.dataset.level)));

  async function refreshCounts() {
    try { const s = await SH.api("GET", "/snapshot"); waiting = {}; (s.items || []).forEach(i => waiting[i.code] = i.waiting); if (document.body.dataset.screen === "items") renderItems(); } catch (_) {}
  }
  let countTimer = null;
  SH.stream((m) => {
    if (m.kind === "card" && m.card) { card = m.card; idleLeft = idleS; renderCard(); if (document.body.dataset.screen !== "guide") { renderItems(); show("items"); } }
    if (m.kind === "queue") { clearTimeout(countTimer); countTimer = setTimeout(refreshCounts, 300); }
  }, (up) => { if (up) refreshCounts(); }, agent ? { agent } : {});

  SH.clock($("clock"));
  SH.api("GET", "/hall").then(h => {
    hall = h; $("hall-name").textContent = h.name; applyLang(); show("home"); document.body.dataset.ready = "1";
  }).catch(() => setTimeout(() => location.reload(), 5000));
})();
