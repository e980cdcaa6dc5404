// Self-service kiosk: browse items (by name or pinyin), read the guide,
// take a ticket (walk-in, appointment, ID card), look a ticket up, rate a
// service. Bound to its agent with ?agent=ID (the ticket prints on that
// agent's printer and its ID-card reader's reads arrive on this page's
// card session). After ?idle=S seconds (default 60) without a touch it
// asks "still there?" with a 继续 button and only then returns home.
//
// Elder mode (长辈模式, issue 11): one tap on the always-visible header
// button: large type, high contrast, the common items as big tiles, the
// ID card as the main path, search behind one button, no countdowns (the
// "still there?" prompt comes after 5 minutes and waits another 5), and
// voice prompts on the kiosk's own speaker when it has one (POST
// /api/v1/kiosk/speak with a prompt id; the kiosk signs in once with its
// kiosk token at ?setup=1). Without a speaker the page says so.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const agent = SH.q.get("agent") || "";
  const idleS = Math.max(20, Number(SH.q.get("idle") || 60));
  const ELDER_IDLE_S = 300; // elder mode: 5 minutes before the prompt
  let lang = SH.q.get("lang") === "en" ? "en" : "zh";
  let elder = SH.q.get("elder") === "1";
  let hall = null, dept = "", item = null, card = null, lastTicket = null;
  let lookupMode = "lookup";
  let voice = null; // {speaker: bool} once known; null: not signed in / unknown

  const T = {
    zh: {
      all: "全部", depts: "部门", ahead: "前面 {n} 人",
      etaNone: "暂时无法估算等候时间，请留意叫号", etaSoon: "即将叫号，请留意叫号屏", etaOne: "预计等候约 {a} 分钟", etaRange: "预计等候约 {a}–{b} 分钟",
      printed: "号票已打印，请取票", notPrinted: "本机未连接打印机，请记下号码", printFailed: "号票未能打印（{code}）。您的号码已登记，请记下号码，或点“重新打印”。", printPending: "正在打印，如未出票请点“重新打印”或记下号码", reprinting: "正在重新打印…",
      paperOut: "打印机缺纸", noAnswer: "打印机无响应",
      window: "请到 {w} 号窗口办理", watch: "请留意大厅叫号屏和语音叫号，叫到您的号码时会告诉您到哪个窗口",
      state: { waiting: "排队中", called: "已叫号，请到窗口", serving: "办理中", finished: "已办结", no_show: "已过号", voided: "已过号作废", transferred: "已转移", cancelled: "已取消" },
      card: "已读取身份证：{name}（{id}）。请选择事项，将按身份证取号。", idle: "{s} 秒后返回首页", still: "长时间没有操作。点“继续使用”留在本页。",
      promised: "承诺件：承诺 {d} 个工作日内办结", immediate: "即办件：当场办结",
      cond: "办理条件", mat: "所需材料", fee: "收费标准", loc: "办理地点",
      noGuide: "本事项暂无办事指南，请到窗口或咨询台咨询所需材料。", zhOnly: "",
      res: "号码 {n} · {item}", resAhead: "前面还有 {n} 人。", win: "窗口：{w} 号", elderly: "（老年人优先）", rated: "该号已评价，谢谢",
      lookupTitle: "查询进度", rateTitle: "服务评价", lookupHelp: "请输入号票上的号码（如 A012）或办件流水号，然后点“查询”。", rateHelp: "请输入号票上的号码（如 C001），点“查询”后再评价。",
      notRateable: "该号尚未办结，办结后才能评价。", needCheck: "请输入号票上的评价核验码，或刷取号时使用的身份证",
      noHit: "没有找到与“{q}”相关的事项。可以换个说法、用拼音首字母（如 sb），或查看全部事项。",
      backspace: "退格", clear: "清除",
      voiceOn: "语音提示已开启", voiceOff: "本机暂无语音播报，请看屏幕提示", voiceNoSetup: "本机未开通语音播报，请看屏幕提示",
      setupOk: "已登录：{s}", setupBad: "令牌无效或已过期",
      elderOn: "长辈模式 · 大字", elderOff: "退出长辈模式",
      caseStatus: { accepted: "已受理", in_review: "审查中", approved: "已办结（准予）", rejected: "已办结（不予）", ready_for_pickup: "待领取" }, due: "承诺办结日期：{d}",
      title: "自助服务终端",
    },
    en: {
      all: "All", depts: "Departments", ahead: "{n} waiting",
      etaNone: "No wait estimate yet — please watch for your number", etaSoon: "You will be called shortly — watch the screen", etaOne: "Expected wait: about {a} min", etaRange: "Expected wait: {a}–{b} min",
      printed: "Your ticket is printed — please take it", notPrinted: "No printer here — please note your number", printFailed: "The ticket could not be printed ({code}). Your number is registered: note it, or tap Reprint.", printPending: "Printing… if no ticket comes out, tap Reprint or note your number", reprinting: "Reprinting…",
      paperOut: "out of paper", noAnswer: "the printer did not answer",
      window: "Go to window {w}", watch: "Watch the hall screen and listen for your number: the call tells you which window",
      state: { waiting: "Waiting", called: "Called — please go to the window", serving: "Being served", finished: "Finished", no_show: "Missed (no-show)", voided: "Missed, cancelled", transferred: "Transferred", cancelled: "Cancelled" },
      card: "ID card read: {name} ({id}). Choose a service to take a ticket with it.", idle: "Back to the start in {s} s", still: "Nothing has been touched for a while. Tap Continue to stay.",
      promised: "Promised service: done within {d} working days", immediate: "Done on the spot",
      cond: "Who can apply", mat: "What to bring", fee: "Fee", loc: "Where",
      noGuide: "There is no published guide for this service. Please ask at the window or the help desk what to bring.", zhOnly: "This guide is published in Chinese only; please ask at the help desk if you need help.",
      res: "Number {n} · {item}", resAhead: "{n} ahead of you.", win: "Window {w}", elderly: " (senior priority)", rated: "Already rated, thank you",
      lookupTitle: "Look up a ticket", rateTitle: "Rate a service", lookupHelp: "Enter the number on your ticket (e.g. A012) or a case serial, then tap Look up.", rateHelp: "Enter the number on your ticket (e.g. C001), tap Look up, then rate.",
      notRateable: "This ticket has not been served yet; you can rate it once it is finished.", needCheck: "Enter the check code printed on the ticket, or swipe the ID card the ticket was taken with",
      noHit: "No service matches “{q}”. Try other words, pinyin initials (e.g. sb), or show all services.",
      backspace: "Backspace", clear: "Clear",
      voiceOn: "Voice guidance is on", voiceOff: "This kiosk has no voice guidance — please follow the screen", voiceNoSetup: "Voice guidance is not set up on this kiosk — please follow the screen",
      setupOk: "Signed in: {s}", setupBad: "The token is invalid or expired",
      elderOn: "Senior mode · Large text", elderOff: "Leave senior mode",
      caseStatus: { accepted: "Accepted", in_review: "In review", approved: "Approved", rejected: "Rejected", ready_for_pickup: "Ready for pickup" }, due: "Promised by: {d}",
      title: "Self-service kiosk",
    },
  };
  const t = (k, vars) => {
    let s = k.split(".").reduce((o, p) => o && o[p], T[lang]);
    if (s == null) s = k;
    for (const v in vars || {}) s = s.split("{" + v + "}").join(vars[v]);
    return s;
  };
  const aheadHTML = (n) => lang === "zh" ? SH.html`前面还有 <b>${n}</b> 人` : SH.html`<b>${n}</b> ahead of you`;

  // ---- language and mode -------------------------------------------------
  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    document.querySelectorAll("[data-zh]").forEach(el => { el.textContent = el.dataset[lang]; });
    document.querySelectorAll("[data-ph-zh]").forEach(el => { el.placeholder = lang === "zh" ? el.dataset.phZh : el.dataset.phEn; });
    const lb = $("lang");
    lb.textContent = lang === "zh" ? "English" : "中文";
    lb.lang = lang === "zh" ? "en" : "zh-CN";
    $("depts").setAttribute("aria-label", t("depts"));
    document.querySelectorAll(".keys button[data-k]").forEach(b => { b.setAttribute("aria-label", t(b.dataset.k)); b.textContent = b.dataset.k === "clear" ? t("clear") : "⌫"; });
    renderElder(); renderDepts(); renderItems(); renderCard(); renderCommon(); renderVoice(); setLookupMode(lookupMode);
    if (item && document.body.dataset.screen === "guide") openGuide(item);
    if (lastTicket && document.body.dataset.screen === "ticket") renderTicket(lastTicket);
  }

  function renderElder() {
    document.body.classList.toggle("elder", elder);
    document.body.dataset.elder = elder ? "1" : "0";
    const b = $("elder");
    b.setAttribute("aria-pressed", String(elder));
    b.firstElementChild.textContent = elder ? t("elderOff") : t("elderOn");
    document.body.dataset.idleS = String(elder ? ELDER_IDLE_S : idleS);
  }

  function setElder(on) {
    elder = on;
    renderElder(); renderCommon(); renderVoice();
    touch();
    if (on) { show("home"); speak("elder_on"); }
  }

  function show(id) {
    document.querySelectorAll(".screen").forEach(s => s.classList.toggle("hidden", s.id !== id));
    document.body.dataset.screen = id;
    window.scrollTo(0, 0);
  }

  function reset(leaveElder) {
    card = null; item = null; dept = ""; lastTicket = null;
    $("search").value = ""; $("appt-code").value = ""; $("lookup-no").value = ""; $("rate-check").value = "";
    ["take-err", "appt-err", "lookup-err"].forEach(i => $(i).textContent = "");
    clearLookup();
    if (leaveElder && elder && SH.q.get("elder") !== "1") elder = false;
    if (SH.q.get("lang") !== "en" && lang !== "zh") lang = "zh";
    applyLang(); show("home");
  }

  // ---- idle: ask before going home, never a silent countdown ----------------
  let idleLeft = idleS, asking = false;
  function limit() { return elder ? ELDER_IDLE_S : idleS; }
  function touch() { idleLeft = limit(); if (asking) { asking = false; $("still").classList.add("hidden"); } }
  ["pointerdown", "keydown", "input"].forEach(e => document.addEventListener(e, (ev) => { if (!$("still").contains(ev.target)) touch(); }, true));
  $("still-go").onclick = touch;
  setInterval(() => {
    const home = document.body.dataset.screen === "home" && !card;
    if (home && !asking) { idleLeft = limit(); $("idle").textContent = ""; return; }
    idleLeft--;
    if (!asking && idleLeft <= 0) {
      // Time to ask: the prompt waits as long again (elder: 5 minutes).
      asking = true; idleLeft = elder ? ELDER_IDLE_S : Math.max(20, Math.round(idleS / 2));
      $("still-text").textContent = t("still");
      $("still").classList.remove("hidden");
      $("still-go").focus();
    } else if (asking && idleLeft <= 0) {
      asking = false; $("still").classList.add("hidden"); reset(true);
    }
    $("idle").textContent = asking && !elder ? t("idle", { s: Math.max(0, idleLeft) }) : "";
  }, 1000);

  // ---- items, search -------------------------------------------------------
  function deptName(code) { const d = (hall.departments || []).find(d => d.code === code); return d ? d.name : code; }

  function renderDepts() {
    if (!hall) return;
    const el = $("depts");
    el.replaceChildren();
    const mk = (code, label) => {
      const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.dataset.dept = code;
      b.className = dept === code ? "on" : ""; b.setAttribute("aria-pressed", String(dept === code));
      b.onclick = () => { dept = code; renderDepts(); renderItems(); }; el.appendChild(b);
    };
    mk("", t("all"));
    (hall.departments || []).forEach(d => mk(d.code, d.name));
  }

  // pyMatch: the query's letters are prefixes of the name's syllables (any
  // reading of each character), in order, skipping any ("sb", "shebao",
  // "shbz" → 社会保障…).
  function pyMatch(q, syl) {
    if (!q || !syl || !syl.length) return false;
    const memo = new Map();
    const go = (i, j) => {
      if (i === q.length) return true;
      if (j >= syl.length) return false;
      const key = i * 1000 + j;
      if (memo.has(key)) return memo.get(key);
      let ok = false;
      for (const s of syl[j]) { // each reading of the character
        for (let k = 1; !ok && k <= s.length && i + k <= q.length && q[i + k - 1] === s[k - 1]; k++) ok = go(i + k, j + 1);
        if (ok) break;
      }
      if (!ok) ok = go(i, j + 1);
      memo.set(key, ok);
      return ok;
    };
    return go(0, 0);
  }
  function matches(i, raw) {
    const s = raw.trim().toLowerCase();
    if (!s) return true;
    if (i.name.toLowerCase().includes(s) || i.code.toLowerCase().includes(s) || deptName(i.dept).toLowerCase().includes(s)) return true;
    const q = s.replace(/[\s']/g, "");
    return /^[a-z]+$/.test(q) && pyMatch(q, i.pinyin);
  }

  let waiting = {};
  function itemButton(i, big) {
    const b = document.createElement("button");
    b.type = "button"; b.className = big ? "" : "item";
    if (big) b.dataset.common = i.code; else b.dataset.item = i.code; // one [data-item] per item on the page
    if (big) b.innerHTML = SH.html`${i.name}<small>${t("ahead", { n: waiting[i.code] || 0 })}</small>`;
    else b.innerHTML = SH.html`<span><b>${i.name}</b><br><small>${deptName(i.dept)} · ${i.code}</small></span><span class="w">${t("ahead", { n: waiting[i.code] || 0 })}</span>`;
    b.onclick = () => openGuide(i);
    return b;
  }
  function renderItems() {
    if (!hall) return;
    const q = $("search").value;
    const list = $("item-list");
    list.replaceChildren();
    const hits = hall.items.filter(i => (!dept || i.dept === dept) && matches(i, q));
    hits.forEach(i => list.appendChild(itemButton(i, false)));
    const none = hits.length === 0;
    $("no-hit").classList.toggle("hidden", !none);
    if (none) $("no-hit-text").textContent = t("noHit", { q: q.trim() || (dept ? deptName(dept) : "") });
    document.body.dataset.hits = String(hits.length);
  }
  // The elder home: the hall's first items (list the most common first).
  function renderCommon() {
    if (!hall) return;
    const el = $("common");
    el.replaceChildren();
    hall.items.slice(0, 4).forEach(i => el.appendChild(itemButton(i, true)));
  }

  // ---- guide ---------------------------------------------------------------
  function openGuide(i) {
    item = i;
    $("guide-title").textContent = i.name;
    const en = lang === "en";
    const g = en && i.guide_en ? i.guide_en : i.guide;
    const zhOnly = en && !i.guide_en;
    const mat = (g.materials || []).filter(m => m && m.trim());
    const has = g.conditions || mat.length || g.fee || g.location;
    const sect = (h, body) => SH.html`<h2>${h}</h2>${body}`;
    const box = $("guide-box");
    const kind = i.kind === "promised" ? t("promised", { d: i.promise_days }) : t("immediate");
    if (!has) {
      box.innerHTML = SH.html`<p class="none" id="guide-none">${t("noGuide")}</p><p class="muted">${kind}</p>`;
    } else {
      const zhAttr = zhOnly ? "zh-CN" : (en ? "en" : "zh-CN");
      box.innerHTML = SH.html`${zhOnly ? SH.html`<p class="muted" id="guide-zh-only">${t("zhOnly")}</p>` : ""}<div lang="${zhAttr}">${
        g.conditions ? sect(t("cond"), SH.html`<p>${g.conditions}</p>`) : ""}${
        mat.length ? sect(t("mat"), SH.html`<ol>${mat.map(m => SH.html`<li>${m}</li>`)}</ol>`) : ""}${
        g.fee ? sect(t("fee"), SH.html`<p>${g.fee}</p>`) : ""}${
        g.location ? sect(t("loc"), SH.html`<p>${g.location}</p>`) : ""}</div><p class="muted">${kind}</p>`;
    }
    $("take-err").textContent = "";
    show("guide");
  }

  function problemText(e) { return e.problem ? (lang === "zh" ? e.problem.message_zh : e.problem.message_en) : String(e); }

  // ---- ticket ----------------------------------------------------------------
  // etaText: one honest sentence for an estimate range in seconds (-1: none).
  function etaText(p50, p90, ahead) {
    if (p50 == null || p90 == null || p50 < 0 || p90 < 0) return t("etaNone");
    if (p90 === 0 && !ahead) return t("etaSoon");
    const a = SH.mins(p50), b = Math.max(a, SH.mins(p90));
    return a === b ? t("etaOne", { a }) : t("etaRange", { a, b });
  }

  function renderTicket(tk) {
    $("t-item").textContent = tk.item_name + (tk.class === "elderly" ? t("elderly") : "");
    $("t-number").textContent = tk.number;
    $("t-ahead-line").innerHTML = SH.html`${aheadHTML(tk.ahead)}`;
    $("t-eta").textContent = etaText(tk.eta_p50_s, tk.eta_p90_s, tk.ahead);
    $("t-window").textContent = tk.hint_window ? t("window", { w: tk.hint_window }) : t("watch");
    document.body.dataset.hint = String(tk.hint_window || 0);
    const codes = { paper_out: t("paperOut"), expired: t("noAnswer"), no_ack: t("noAnswer"), no_answer: t("noAnswer") };
    const st = tk.print || "";
    $("t-printed").textContent = st === "printed" ? t("printed") : st === "failed" ? t("printFailed", { code: codes[tk.print_code] || tk.print_code || "" })
      : st === "pending" ? t("printPending") : t("notPrinted");
    $("t-printed").classList.toggle("err", st === "failed");
    $("reprint").classList.toggle("hidden", !(agent && (st === "failed" || st === "pending")));
  }

  function showTicket(tk) {
    lastTicket = tk;
    renderTicket(tk);
    card = null; renderCard();
    show("ticket");
    // "Take your ticket" only once the printer said done.
    if (elder) speak(tk.print === "printed" ? "your_number" : "your_number_unprinted", tk.number);
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
      const cs = card && cardSession ? { card_session: cardSession.session, card_secret: cardSession.secret } : {};
      const tk = await SH.api("POST", "/tickets", Object.assign({ item: item.code, agent: agent || undefined, card: !!card, request_id: SH.rid() }, cs));
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

  // ---- look up and rate ------------------------------------------------------
  function setLookupMode(mode) {
    lookupMode = mode;
    const rate = mode === "rate";
    $("lookup-title").textContent = rate ? t("rateTitle") : t("lookupTitle");
    $("lookup-help").textContent = rate ? t("rateHelp") : t("lookupHelp");
    document.body.dataset.lookup = mode;
  }
  function clearLookup() {
    $("lookup-res").classList.add("hidden"); $("rate-box").classList.add("hidden"); $("rate-done").classList.add("hidden");
    resetReasons();
    $("lookup-again").classList.add("hidden"); $("lookup-ask").classList.remove("hidden"); $("lookup-err").textContent = "";
  }
  function openLookup(mode) { clearLookup(); $("lookup-no").value = ""; setLookupMode(mode); show("lookup"); }
  // showResult collapses the number pad so the result, the check code and
  // the five faces fit on one 1080×1920 screen.
  function showResult(markup, rateable, number) {
    const res = $("lookup-res");
    res.innerHTML = SH.html`${markup}`; // markup is an SH.html result
    res.classList.remove("hidden");
    $("lookup-ask").classList.add("hidden");
    $("lookup-again").classList.remove("hidden");
    $("rate-box").classList.toggle("hidden", !rateable);
    $("rate-box").dataset.number = number || "";
    window.scrollTo(0, 0);
  }

  async function lookup() {
    const no = $("lookup-no").value.trim().toUpperCase();
    $("lookup-err").textContent = ""; $("rate-done").classList.add("hidden");
    if (!no) return;
    if (no.length > 12) return caseLookup($("lookup-no").value.trim());
    try {
      const r = await SH.api("GET", "/tickets/" + encodeURIComponent(no));
      const notYet = lookupMode === "rate" && !r.rateable && !r.rated;
      showResult(SH.html`<div class="n">${r.number}</div><p>${t("res", { n: r.number, item: r.item_name })}</p><p><b>${t("state." + r.state)}</b></p>${
        r.state === "waiting" ? SH.html`<p>${t("resAhead", { n: r.ahead })}${etaText(r.now_p50_s, r.now_p90_s, r.ahead)}</p>` : ""}${
        r.window ? SH.html`<p>${t("win", { w: r.window })}</p>` : ""}${
        r.rated ? SH.html`<p class="muted">${t("rated")}</p>` : ""}${
        notYet ? SH.html`<p class="muted">${t("notRateable")}</p>` : ""}`, r.rateable, r.number);
    } catch (e) { $("lookup-err").textContent = problemText(e); $("lookup-res").classList.add("hidden"); $("rate-box").classList.add("hidden"); }
  }

  // caseLookup shows a case's progress by its serial number (统一业务流水号),
  // and the check code printed on the receipt: scanned from its QR code
  // (…/c/SERIAL?k=CODE) or typed as "SERIAL CODE".
  async function caseLookup(input) {
    const k = (input.match(/[?&]k=([0-9 -]+)/) || input.match(/\s([0-9][0-9 -]*)$/) || ["", ""])[1].replace(/[ -]/g, "");
    const serial = input.replace(/^.*\/c\//, "").replace(/[?#].*$/, "").trim().split(/\s+/)[0];
    try {
      const p = await SH.api("GET", "/cases/" + encodeURIComponent(serial) + "?k=" + encodeURIComponent(k));
      const cs = (s) => t("caseStatus." + s);
      const when = (at) => new Date(at).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false, timeZone: SH.zone() });
      showResult(SH.html`<div class="n case-serial">${p.serial}</div><p>${p.item_name}</p><p><b class="case-status" data-status="${p.status}">${cs(p.status)}</b></p>${
        p.due ? SH.html`<p>${t("due", { d: p.due })}</p>` : ""}${
        (p.history || []).map(x => SH.html`<p class="muted">${when(x.at)} · ${cs(x.status)}</p>`)}`, false, "");
    } catch (e) { $("lookup-err").textContent = e.problem && !e.problem.message_zh ? (e.problem.detail || e.problem.title) : problemText(e); $("lookup-res").classList.add("hidden"); }
  }

  // rate sends the rating with its proof: the check code typed from the
  // ticket or, with none typed, the ID card just swiped at this kiosk (for
  // a ticket taken with that card; the controller compares the card's
  // keyed hash with the ticket's).
  // A 差评 (levels 1–2) first asks why: the hall's reasons (GET /hall
  // rating_reasons) as toggle buttons, then 提交评价 sends the rating with
  // the chosen codes. Levels 3–5 are sent at once.
  let pendingLevel = 0;
  function pickLevel(level) {
    const reasons = (hall && hall.rating_reasons) || [];
    if (level > 2 || !reasons.length) { rate(level, []); return; }
    pendingLevel = level;
    const list = $("rate-reason-list");
    list.replaceChildren(...reasons.map(r => {
      const b = document.createElement("button");
      b.type = "button"; b.className = "reason"; b.dataset.code = r.code; b.setAttribute("aria-pressed", "false");
      b.textContent = lang === "en" && r.en ? r.en : r.zh;
      b.onclick = () => b.setAttribute("aria-pressed", b.getAttribute("aria-pressed") === "true" ? "false" : "true");
      return b;
    }));
    document.querySelectorAll("[data-level]").forEach(b => b.classList.toggle("chosen", Number(b.dataset.level) === level));
    $("rate-reasons").classList.remove("hidden");
  }
  function sendReasons() {
    const codes = [...document.querySelectorAll("#rate-reason-list [aria-pressed=true]")].map(b => b.dataset.code);
    if (pendingLevel) rate(pendingLevel, codes);
  }
  function resetReasons() {
    pendingLevel = 0; $("rate-reasons").classList.add("hidden"); $("rate-reason-list").replaceChildren();
    document.querySelectorAll("[data-level]").forEach(b => b.classList.remove("chosen"));
  }

  async function rate(level, reasons) {
    const no = $("rate-box").dataset.number, check = $("rate-check").value.replace(/\s/g, "");
    const byCard = !check && card && cardSession;
    if (!check && !byCard) { $("lookup-err").textContent = t("needCheck"); $("rate-check").focus(); return; }
    const body = byCard ? { level, card: true, agent, card_session: cardSession.session, card_secret: cardSession.secret, request_id: SH.rid() }
      : { level, check, request_id: SH.rid() };
    if (reasons && reasons.length) body.reasons = reasons;
    try {
      await SH.api("POST", "/tickets/" + encodeURIComponent(no) + "/rating", body);
      resetReasons();
      $("rate-box").classList.add("hidden"); $("rate-done").classList.remove("hidden"); $("rate-check").value = "";
      $("lookup-err").textContent = "";
    } catch (e) { $("lookup-err").textContent = problemText(e); }
    if (byCard) { card = null; renderCard(); } // the read is used up either way
  }

  function renderCard() {
    const b = $("card-banner");
    if (!card) { b.classList.add("hidden"); return; }
    b.textContent = t("card", { name: card.masked_name || "", id: card.masked_id || "" });
    b.classList.remove("hidden");
  }

  // ---- on-screen keys (no system keyboard on kiosks) ---------------------------
  // Letters A–Z and digits type; ⌫ and 清除 are keys of their own (a "C"
  // key that cleared the field made C tickets impossible to type).
  const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ".split(""), DIGITS = "1234567890".split("");
  document.querySelectorAll(".keys").forEach(k => {
    const input = $(k.dataset.target);
    const set = k.dataset.keys === "digits" ? DIGITS : k.dataset.keys === "letters" ? LETTERS : DIGITS.concat(LETTERS);
    const add = (label, fn, extra) => {
      const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.onclick = () => { fn(); input.dispatchEvent(new Event("input", { bubbles: true })); };
      if (extra) { b.className = "wide"; b.dataset.k = extra; }
      else b.dataset.ch = label;
      k.appendChild(b);
    };
    set.forEach(ch => add(ch, () => {
      if (input.maxLength > 0 && input.value.length >= input.maxLength) return;
      input.value += k.dataset.keys === "letters" ? ch.toLowerCase() : ch;
    }));
    add("⌫", () => { input.value = input.value.slice(0, -1); }, "backspace");
    add("清除", () => { input.value = ""; }, "clear");
  });

  // ---- voice guidance ------------------------------------------------------
  function renderVoice() {
    const on = !!(voice && voice.speaker);
    document.body.dataset.voice = on ? "1" : "0";
    $("voice-text").textContent = on ? t("voiceOn") : voice ? t("voiceOff") : t("voiceNoSetup");
    $("voice-again").classList.toggle("hidden", !on);
  }
  let lastPrompt = null;
  async function speak(prompt, number) {
    if (!elder || !voice || !voice.speaker) return;
    lastPrompt = { prompt, number };
    try {
      await SH.api("POST", "/kiosk/speak", { agent, prompt, number: number || undefined, lang });
      document.body.dataset.spoke = prompt;
    } catch (e) {
      if (e.code === "no_speaker") { voice.speaker = false; renderVoice(); }
    }
  }
  $("voice-again").onclick = () => { if (lastPrompt) speak(lastPrompt.prompt, lastPrompt.number); else speak("elder_on"); };
  async function loadVoice() {
    if (!agent) { voice = null; renderVoice(); return; }
    try { voice = await SH.api("GET", "/kiosk/voice?agent=" + encodeURIComponent(agent)); }
    catch (_) { voice = null; }
    renderVoice();
  }

  // Staff sign the kiosk in once (?setup=1) with its kiosk token: kept as
  // the HttpOnly session cookie, never in the page or the URL.
  if (SH.q.get("setup") === "1") {
    $("setup").classList.remove("hidden");
    $("setup-go").onclick = async () => {
      const tok = $("setup-token").value.trim(); $("setup-token").value = "";
      try {
        const s = await SH.signIn(tok);
        $("setup-msg").textContent = t("setupOk", { s: s.subject });
        await loadVoice();
        document.body.dataset.setup = "1";
        // Done: the panel goes and the address loses ?setup (no reload, so
        // the kiosk keeps its card session).
        $("setup").classList.add("hidden");
        SH.q.delete("setup");
        history.replaceState(null, "", location.pathname + (SH.q.toString() ? "?" + SH.q.toString() : ""));
      } catch (_) { $("setup-msg").textContent = t("setupBad"); }
    };
  }

  // ---- wiring ---------------------------------------------------------------
  $("lang").onclick = () => { lang = lang === "zh" ? "en" : "zh"; applyLang(); };
  $("elder").onclick = () => setElder(!elder);
  $("elder-more").onclick = () => { renderItems(); show("items"); speak("choose_item"); };
  $("go-take").onclick = () => { renderItems(); show("items"); };
  $("go-appt").onclick = () => show("appt");
  $("go-lookup").onclick = () => openLookup("lookup");
  $("go-rate").onclick = () => openLookup("rate");
  $("lookup-again").onclick = () => { clearLookup(); $("lookup-no").value = ""; };
  $("no-hit-all").onclick = () => { $("search").value = ""; dept = ""; renderDepts(); renderItems(); };
  $("no-hit-home").onclick = () => { $("search").value = ""; dept = ""; renderDepts(); renderItems(); show("home"); };
  document.querySelectorAll(".back").forEach(b => b.onclick = () => show(document.body.dataset.screen === "guide" ? "items" : "home"));
  document.querySelectorAll(".done").forEach(b => b.onclick = () => reset(false));
  $("reprint").onclick = reprint;
  $("search").oninput = renderItems;
  $("take").onclick = take;
  $("appt-go").onclick = checkin;
  $("lookup-go").onclick = lookup;
  $("lookup-no").onkeydown = (e) => { if (e.key === "Enter") lookup(); };
  $("appt-code").onkeydown = (e) => { if (e.key === "Enter") checkin(); };
  document.querySelectorAll("[data-level]").forEach(b => b.onclick = () => pickLevel(Number(b.dataset.level)));
  $("rate-reasons-send").onclick = sendReasons;

  async function refreshCounts() {
    try {
      const s = await SH.api("GET", "/snapshot"); waiting = {}; (s.items || []).forEach(i => waiting[i.code] = i.waiting);
      if (document.body.dataset.screen === "items") renderItems();
      if (elder) renderCommon();
    } catch (_) {}
  }
  let countTimer = null;
  SH.stream((m) => {
    if (m.kind === "queue") { clearTimeout(countTimer); countTimer = setTimeout(refreshCounts, 300); }
  }, (up) => { if (up) refreshCounts(); });

  // ID-card reads come only on this kiosk's card session (secret kept in
  // memory, sent as the socket's first message, never in a URL).
  let cardSession = null, cardDelay = 1000;
  function onCard(c) {
    card = c; touch(); renderCard();
    // On the rating screen a swipe is the proof of holding the ticket:
    // stay there. Elsewhere a swipe starts taking a ticket.
    const rating = document.body.dataset.screen === "lookup" && lookupMode === "rate";
    if (rating) $("lookup-err").textContent = "";
    else if (document.body.dataset.screen !== "guide") { renderItems(); show(elder ? "home" : "items"); }
    if (elder) speak("card_read");
  }
  async function cardConnect() {
    try {
      if (!cardSession) cardSession = await SH.api("POST", "/kiosk/card-session", { agent });
    } catch (_) { setTimeout(cardConnect, cardDelay = Math.min(cardDelay * 2, 15000)); return; }
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/kiosk/cards");
    ws.onopen = () => { cardDelay = 1000; ws.send(JSON.stringify({ session: cardSession.session, secret: cardSession.secret })); };
    ws.onmessage = (e) => {
      let m; try { m = JSON.parse(e.data); } catch (_) { return; }
      if (m.kind === "hello") document.body.dataset.cardReady = "1"; // the card session listens (tests wait for it)
      if (m.kind === "card" && m.card) onCard(m.card);
    };
    ws.onclose = (e) => { if (e.code === 4001) cardSession = null; setTimeout(cardConnect, cardDelay = Math.min(cardDelay * 2, 15000)); };
  }
  if (agent) cardConnect();

  SH.clock($("clock"));
  Promise.all([SH.api("GET", "/hall"), loadVoice()]).then(([h]) => {
    hall = h; $("hall-name").textContent = h.name; applyLang(); show("home"); document.body.dataset.ready = "1";
  }).catch(() => setTimeout(() => location.reload(), 5000));
})();
