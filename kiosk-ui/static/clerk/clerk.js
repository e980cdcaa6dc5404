// Window clerk console: the same actions as the window's hardware caller
// keypad (both go through the controller's Act), with keyboard shortcuts,
// the reason each ticket was chosen, and live updates.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  let token = SH.token(), win = 0, hall = null, state = null;
  const reasons = { score: "得分最高（等候分钟 + 优先加分）highest score", backup: "后备事项等候超时 backup item escalated", direct: "转移到本窗口 transferred here",
    overtake_guard: "被超越次数过多，优先叫 overtaken too often", protected: "等候超过保护时限 waited past protection", oldest: "最早取号 oldest first" };
  const stateZh = { open: "服务中 open", paused: "暂停 paused", closed: "未开放 closed" };

  function log(msg, err) { const li = document.createElement("li"); li.textContent = new Date().toLocaleTimeString("zh-CN", { hour12: false }) + " " + msg; if (err) li.className = "err"; $("log").prepend(li); }
  function ptext(e) { return e.problem ? e.problem.message_zh + " / " + e.problem.message_en + " (" + e.problem.code + ")" : String(e); }

  function render(s) {
    state = s;
    const w = s.window;
    $("win-title").textContent = w.number + "号窗口 Window " + w.number;
    $("win-state").textContent = stateZh[w.state] + (w.note ? "：" + w.note : "");
    $("win-state").className = "pill " + w.state;
    $("cur-number").textContent = s.current ? s.current.number : "—";
    $("cur-info").textContent = s.current ? `${s.item_name || s.current.item} · ${s.current.state} · 已呼 called ${new Date(s.current.called_at).toLocaleTimeString("zh-CN", { hour12: false })}` : "空闲 idle";
    const r = $("reason");
    if (s.reason) {
      r.innerHTML = `<b>为什么是这个号 Why this ticket:</b> ${SH.esc(reasons[s.reason.rule] || s.reason.rule)}<br>` +
        `已等 waited ${SH.mins(s.reason.waited_s)} 分钟 · 优先加分 head start ${s.reason.head_start_min} 分钟 · 得分 score ${s.reason.score_min.toFixed(1)} · 候选队列 candidate queues ${s.reason.candidates}` +
        (s.reason.overtaken ? ` · 被超越 overtaken ${s.reason.overtaken}` : "");
      r.classList.remove("hidden");
    } else r.classList.add("hidden");
    $("waiting").textContent = s.waiting;
    $("serves").textContent = (w.serves || []).join(", ") + (w.backup && w.backup.length ? "（后备 backup: " + w.backup.join(", ") + "）" : "");
    document.body.dataset.current = s.current ? s.current.number : "";
  }

  async function refresh() { try { render(await SH.api("GET", "/windows/" + win, undefined, token)); } catch (e) { log(ptext(e), true); } }

  async function act(action, arg) {
    try {
      const r = await SH.api("POST", `/windows/${win}/actions`, { action, arg: arg || undefined, request_id: SH.rid() }, token);
      render(r.state);
      log(action + (r.called ? " → " + r.called.number : "") + (arg ? " (" + arg + ")" : ""));
    } catch (e) { log(action + ": " + ptext(e), true); }
  }

  function press(a) {
    $("transfer-box").classList.add("hidden"); $("pause-box").classList.add("hidden");
    if (a === "transfer") { $("transfer-box").classList.remove("hidden"); $("transfer-to").focus(); return; }
    if (a === "pause") { $("pause-box").classList.remove("hidden"); $("pause-reason").focus(); return; }
    act(a);
  }
  document.querySelectorAll("[data-act]").forEach(b => b.onclick = () => press(b.dataset.act));
  $("transfer-go").onclick = () => { $("transfer-box").classList.add("hidden"); act("transfer", $("transfer-to").value); };
  $("pause-go").onclick = () => { $("pause-box").classList.add("hidden"); act("pause", $("pause-reason").value); };
  const keys = { n: "call-next", F1: "call-next", r: "recall", x: "no-show", s: "start", f: "finish", t: "transfer", p: "pause", u: "resume" };
  document.addEventListener("keydown", (e) => {
    if (!win || e.target.tagName === "TEXTAREA" || e.target.tagName === "SELECT" || e.ctrlKey || e.altKey || e.metaKey) return;
    const a = keys[e.key] || keys[e.key.toLowerCase()];
    if (a) { e.preventDefault(); press(a); }
  });

  async function start() {
    let me;
    try { me = await SH.api("GET", "/whoami", undefined, token); } catch (e) { $("login").classList.remove("hidden"); $("login-err").textContent = token ? ptext(e) : ""; return; }
    win = me.window || Number(SH.q.get("window") || 0);
    if (!win) { $("login").classList.remove("hidden"); $("login-err").textContent = "令牌未绑定窗口 token has no window"; return; }
    $("who").textContent = (me.subject || me.role);
    $("login").classList.add("hidden"); $("app").classList.remove("hidden");
    hall = await SH.api("GET", "/hall");
    const sel = $("transfer-to");
    hall.items.forEach(i => { const o = document.createElement("option"); o.value = "item:" + i.code; o.textContent = "事项 " + i.code + " " + i.name; sel.appendChild(o); });
    hall.windows.filter(w => w.number !== win).forEach(w => { const o = document.createElement("option"); o.value = "window:" + w.number; o.textContent = w.number + "号窗口 window " + w.number; sel.appendChild(o); });
    await refresh();
    let t = null;
    SH.stream((m) => { if (m.kind === "queue") { clearTimeout(t); t = setTimeout(refresh, 150); } }, (up) => { if (up) refresh(); });
    document.body.dataset.ready = "1";
  }
  $("token-go").onclick = () => { token = $("token-in").value.trim(); try { sessionStorage.setItem("sh-token", token); } catch (_) {} start(); };
  SH.clock($("clock"));
  start();
})();
