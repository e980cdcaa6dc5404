// Window clerk console: the same actions as the window's hardware caller
// keypad (both go through the controller's Act), with keyboard shortcuts,
// the reason each ticket was chosen, the tickets waiting for this window,
// and live updates. Staff sign in here with their staff id (工号),
// password and the window they work at (POST /api/v1/session); the
// session is an HttpOnly cookie the page never sees. Everything a clerk
// reads is Chinese: codes from the server are mapped to labels below.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let win = 0, hall = null, state = null, me = null, streaming = false, expiryTimer = null;

  // Labels for the server's codes.
  const reasons = { score: "得分最高（已等候分钟 + 优先加分）", backup: "后备事项等候超时，由本窗口协办", direct: "转移到本窗口的号",
    overtake_guard: "被超越次数过多，优先呼叫", protected: "等候超过保护时限，优先呼叫", oldest: "最早取号" };
  const winStateZh = { open: "服务中", paused: "暂停服务", closed: "未开放" };
  const ticketStateZh = { waiting: "等候中", called: "已呼叫，等候到窗", serving: "办理中", finished: "已办结", no_show: "过号", cancelled: "已取消" };
  const classZh = { walkin: "普通", appointment: "预约", elderly: "老年人优先", green: "绿色通道" };
  const actZh = { "call-next": "叫号", recall: "重呼", "no-show": "过号", start: "开始办理", finish: "办结", transfer: "转移", pause: "暂停服务", resume: "恢复服务" };
  const authZh = { token_expired: "登录已过期，请重新登录。", session_ended: "已退出登录，请重新登录。",
    token_revoked: "该工号已被停用，请联系管理员。", unauthorized: "请先登录。" };

  const hm = (d) => SH.time(d, { hour: "2-digit", minute: "2-digit" }); // the hall's zone (common.js)
  function log(msg, err) { const li = document.createElement("li"); li.textContent = SH.time(new Date()) + " " + msg; if (err) li.className = "err"; $("log").prepend(li); }
  // ptext is an error's Chinese text (the problem's message_zh).
  function ptext(e) {
    if (e && e.problem) return e.problem.message_zh || "操作失败";
    return "网络错误，请检查连接后重试";
  }
  const authLost = (e) => e && e.problem && e.problem.status === 401;

  function deptName(code) { const d = hall && hall.departments.find(x => x.code === code); return d ? d.name : code; }
  function itemName(code) { const i = hall && hall.items.find(x => x.code === code); return i ? i.name : code; }
  // refName turns a serves entry ("dept:HR", "*", an item code) into words.
  function refName(r) {
    if (r === "*") return "全部事项（无差别受理）";
    if (r.startsWith("dept:")) return deptName(r.slice(5)) + "全部事项";
    return itemName(r);
  }

  // valid lists the actions that make sense in the window's state.
  function valid(s) {
    const w = s.window;
    if (w.state === "closed") return [];
    if (w.state === "paused") return ["resume"];
    if (!s.current) return ["call-next", "pause"];
    if (s.current.state === "called") return ["recall", "no-show", "start", "transfer"];
    if (s.current.state === "serving") return ["finish", "transfer", "call-next"];
    return ["call-next", "pause"];
  }
  function hintFor(s) {
    const w = s.window;
    if (w.state === "closed") return "窗口未开放。请联系值班主任开启本窗口。";
    if (w.state === "paused") return "窗口已暂停服务" + (w.note ? "（" + w.note + "）" : "") + "。按“恢复服务”继续叫号。";
    if (!s.current) return s.waiting ? "按“叫号”呼叫下一位。" : "暂无等候本窗口的号码，有人取号后可叫号。";
    if (s.current.state === "called") return "请等候申请人到窗口：到达后按“开始办理”；未到可“重呼”或“过号”。";
    return "办理完成后按“办结”；也可直接按“叫号”，办结并呼叫下一位。";
  }

  function render(s) {
    state = s;
    const w = s.window;
    $("win-title").textContent = w.number + "号窗口工作台";
    const st = $("win-state");
    st.textContent = (winStateZh[w.state] || "状态未知") + (w.state === "paused" && w.note ? "：" + w.note : "");
    st.className = "state " + (winStateZh[w.state] ? w.state : "closed");
    $("cur-number").textContent = s.current ? s.current.number : "空闲";
    $("cur-number").classList.toggle("idle", !s.current);
    const info = $("cur-info");
    if (s.current) {
      const ts = s.current.state;
      info.innerHTML = SH.html`${s.item_name || itemName(s.current.item)} · <span class="tstate ${ts}">${ticketStateZh[ts] || "处理中"}</span> · ${classZh[s.current.class] || "普通"} · ${hm(s.current.called_at)} 呼叫`;
    } else info.textContent = w.state === "open" ? "当前没有号码" : "";
    const r = $("reason");
    if (s.reason && s.current) {
      const x = s.reason;
      r.innerHTML = SH.html`<b>为什么叫这个号：</b>${reasons[x.rule] || "按排队规则"}<br>已等候 ${SH.mins(x.waited_s)} 分钟 · 优先加分 ${x.head_start_min} 分钟 · 得分 ${x.score_min.toFixed(1)} · 候选队列 ${x.candidates} 个${x.overtaken ? SH.html` · 被超越 ${x.overtaken} 次` : ""}`;
      r.classList.remove("hidden");
    } else r.classList.add("hidden");
    const ok = valid(s);
    document.querySelectorAll("[data-act]").forEach(b => { b.disabled = !ok.includes(b.dataset.act); });
    if (!ok.includes("transfer")) $("transfer-box").classList.add("hidden");
    if (!ok.includes("pause")) $("pause-box").classList.add("hidden");
    $("hint").textContent = hintFor(s);
    $("waiting").textContent = s.waiting;
    $("serves").textContent = (w.serves || []).map(refName).join("、") + (w.backup && w.backup.length ? "（后备：" + w.backup.map(refName).join("、") + "）" : "");
    const q = s.queue || [];
    $("queue").querySelector("tbody").innerHTML = SH.html`${q.map(t => SH.html`<tr data-number="${t.number}"><td class="num">${t.number}</td><td>${t.item_name || itemName(t.item)}${t.transferred ? SH.html`<span class="tag">转入</span>` : ""}${t.no_shows ? SH.html`<span class="tag">过号 ${t.no_shows} 次</span>` : ""}</td><td>${classZh[t.class] || "普通"}</td><td>${SH.mins(t.waited_s)} 分钟</td></tr>`)}`;
    $("queue").classList.toggle("hidden", q.length === 0);
    $("queue-empty").classList.toggle("hidden", q.length !== 0);
    document.body.dataset.current = s.current ? s.current.number : "";
    document.body.dataset.ticketState = s.current ? s.current.state : "";
    document.body.dataset.winState = w.state;
  }

  // The window's open 差评 follow-ups (issue 14; GET /windows/{n} only):
  // the clerk may appeal (申诉) one once, with a reason.
  const fuStateZh = { pending: "待核实", verified: "已核实", rectifying: "整改中", feedback: "已反馈", appealed: "申诉中" };
  let reasonZh = {};
  SH.api("GET", "/hall").then(h => { (h.rating_reasons || []).forEach(r => reasonZh[r.code] = r.zh); }).catch(() => {});
  function renderFollowUps(fs) {
    const tb = $("followups").tBodies[0]; tb.replaceChildren();
    fs.forEach(f => {
      const tr = tb.insertRow();
      tr.innerHTML = SH.html`<td class="num">${f.number}</td><td class="num">${f.level}</td><td>${(f.reasons || []).map(c => reasonZh[c] || c).join("、")}</td><td>${fuStateZh[f.state] || f.state}${f.step_deadline ? "（限 " + f.step_deadline + "）" : ""}</td><td></td>`;
      if (f.can_appeal) {
        const b = document.createElement("button"); b.type = "button"; b.className = "btn appeal"; b.textContent = "申诉";
        b.onclick = async () => {
          const reason = prompt("申诉理由（必填）", ""); if (reason === null || !reason.trim()) return;
          try { await SH.api("POST", `/windows/${win}/followups/${f.ticket}/appeal`, { reason }); log("已提交申诉：" + f.number); refresh(); }
          catch (e) { log("申诉未提交：" + ptext(e), true); }
        };
        tr.cells[4].append(b);
      }
    });
    $("fu-box").classList.toggle("hidden", fs.length === 0);
  }

  async function refresh() {
    if (!win) return;
    try { const s = await SH.api("GET", "/windows/" + win); render(s); renderFollowUps(s.followups || []); } catch (e) { if (authLost(e)) signInNeeded(e); else log(ptext(e), true); }
  }

  async function act(action, arg) {
    try {
      const r = await SH.api("POST", `/windows/${win}/actions`, { action, arg: arg || undefined, request_id: SH.rid() });
      render(r.state);
      log((actZh[action] || "操作") + (r.called ? "：" + r.called.number : "") + (action === "pause" && arg ? "（" + arg + "）" : ""));
    } catch (e) {
      if (authLost(e)) { signInNeeded(e); return; }
      log((actZh[action] || "操作") + "未完成：" + ptext(e), true);
      refresh();
    }
  }

  function press(a) {
    const b = document.querySelector(`[data-act="${a}"]`);
    if (!b || b.disabled) return;
    $("transfer-box").classList.add("hidden"); $("pause-box").classList.add("hidden");
    if (a === "transfer") { $("transfer-box").classList.remove("hidden"); $("transfer-to").focus(); return; }
    if (a === "pause") { $("pause-box").classList.remove("hidden"); $("pause-reason").focus(); return; }
    act(a);
  }
  document.querySelectorAll("[data-act]").forEach(b => b.addEventListener("click", () => press(b.dataset.act)));
  $("transfer-go").addEventListener("click", () => { $("transfer-box").classList.add("hidden"); act("transfer", $("transfer-to").value); });
  $("pause-go").addEventListener("click", () => { $("pause-box").classList.add("hidden"); act("pause", $("pause-reason").value); });
  const keys = { n: "call-next", F1: "call-next", r: "recall", x: "no-show", s: "start", f: "finish", t: "transfer", p: "pause", u: "resume" };
  document.addEventListener("keydown", (e) => {
    if (!win || $("app").classList.contains("hidden")) return;
    if (["TEXTAREA", "SELECT", "INPUT"].includes(e.target.tagName) || e.ctrlKey || e.altKey || e.metaKey) return;
    const a = keys[e.key] || keys[e.key.toLowerCase()];
    if (a) { e.preventDefault(); press(a); }
  });

  async function loadHall() {
    if (hall) return hall;
    hall = await SH.api("GET", "/hall");
    const sel = $("staff-win");
    // A window's PC opens /clerk/?window=N (a bookmark): N is preselected.
    const pre = Number(SH.q.get("window") || 0);
    hall.windows.forEach(w => {
      const o = document.createElement("option");
      o.value = String(w.number); o.textContent = w.number + "号窗口 · " + deptName(w.dept);
      if (w.number === pre) o.selected = true;
      sel.appendChild(o);
    });
    return hall;
  }

  function fillTransfer() {
    const sel = $("transfer-to");
    sel.textContent = "";
    hall.items.forEach(i => { const o = document.createElement("option"); o.value = "item:" + i.code; o.textContent = "事项：" + i.name; sel.appendChild(o); });
    hall.windows.filter(w => w.number !== win).forEach(w => { const o = document.createElement("option"); o.value = "window:" + w.number; o.textContent = w.number + "号窗口（" + deptName(w.dept) + "）"; sel.appendChild(o); });
  }

  async function start() {
    try { await loadHall(); } catch (e) { signInNeeded(null, "无法连接服务器，请稍后刷新页面。"); return; }
    try { me = await SH.api("GET", "/whoami"); } catch (e) { signInNeeded(e.code === "unauthorized" ? null : e); return; }
    win = me.window || Number(SH.q.get("window") || 0);
    if (!win) { signInNeeded(null, "该令牌未绑定窗口，请用工号在窗口登录。"); return; }
    $("who").textContent = (me.name ? me.name + "（工号 " + me.subject + "）" : "工号 " + (me.subject || "—"));
    $("who").classList.remove("hidden"); $("sign-out").classList.remove("hidden");
    $("login").classList.add("hidden"); $("app").classList.remove("hidden");
    document.body.dataset.signedIn = "1";
    fillTransfer();
    await refresh();
    // The session ends at its expiry: the next call then answers 401 and
    // the sign-in screen says so.
    clearTimeout(expiryTimer);
    const left = new Date(me.expires).getTime() - Date.now();
    if (left > 0 && left < 2 ** 31 - 1) expiryTimer = setTimeout(refresh, left + 1000);
    if (!streaming) {
      streaming = true;
      let t = null;
      SH.stream((m) => { if (m.kind === "queue") { clearTimeout(t); t = setTimeout(refresh, 150); } }, (up) => { if (up) refresh(); });
    }
    document.body.dataset.ready = "1";
  }

  // signInNeeded shows the sign-in screen with why (an API error or msg).
  function signInNeeded(e, msg) {
    win = 0; me = null; clearTimeout(expiryTimer);
    $("login").classList.remove("hidden"); $("app").classList.add("hidden");
    $("who").classList.add("hidden"); $("sign-out").classList.add("hidden");
    $("win-title").textContent = "窗口工作台"; $("win-state").className = "state hidden";
    document.body.dataset.signedIn = "0";
    document.body.dataset.current = ""; document.body.dataset.ticketState = "";
    let m = msg || "";
    if (e && e.problem) m = authZh[e.problem.code] || ptext(e);
    if (SH.tokenInURL && !e && !msg) m = "令牌不能放在网址（URL）中，已忽略。请用工号和密码登录。";
    $("login-err").textContent = m;
    // data-ready marks the working console only (tests and scripts wait
    // for it after signing in); the sign-in screen is data-signed-in="0".
    delete document.body.dataset.ready;
    $("staff-id").focus();
  }

  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const staff = $("staff-id").value.trim(), password = $("staff-pw").value, w = Number($("staff-win").value);
    $("staff-pw").value = "";
    if (!staff || !password) { $("login-err").textContent = "请输入工号和密码。"; return; }
    try { await SH.staffSignIn(staff, password, w); } catch (e) {
      let m = ptext(e);
      if (e.problem && e.problem.status === 429 && e.retryAfter) m += "（约 " + Math.ceil(e.retryAfter / 60) + " 分钟后）";
      $("login-err").textContent = m; $("staff-pw").focus(); return;
    }
    $("login-err").textContent = "";
    start();
  });
  $("token-go").addEventListener("click", async () => {
    const tok = $("token-in").value.trim(); $("token-in").value = "";
    try { await SH.signIn(tok); } catch (e) { $("login-err").textContent = ptext(e); return; }
    $("login-err").textContent = "";
    start();
  });
  $("sign-out").addEventListener("click", async () => {
    try { await SH.signOut(); } catch (_) { /* the cookie is cleared either way */ }
    signInNeeded(null, "已退出登录。");
  });
  SH.clock($("clock"));
  start();
})();
