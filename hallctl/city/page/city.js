// The city view's page: asks the JSON API with the city token (kept in
// sessionStorage only) and draws the table; exports download the same
// query as CSV or XLSX. No framework.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var tok = $("token");
  tok.value = sessionStorage.getItem("cityToken") || "";

  function params() {
    var p = new URLSearchParams();
    if ($("from").value) p.set("from", $("from").value);
    if ($("to").value) p.set("to", $("to").value);
    p.set("by", $("by").value);
    return p.toString();
  }
  function get(path) {
    sessionStorage.setItem("cityToken", tok.value.trim());
    return fetch(path + "?" + params(), { headers: { Authorization: "Bearer " + tok.value.trim() } })
      .then(function (r) {
        if (r.ok) return r;
        return r.json().then(function (p) { throw new Error(p.message_zh + "（" + p.code + (p.detail ? "：" + p.detail : "") + "）"); },
          function () { throw new Error("HTTP " + r.status); });
      });
  }
  function min(x) { return x == null ? "" : (x / 60).toFixed(1); }
  function pct(x) { return x == null ? "" : (x * 100).toFixed(1) + "%"; }
  function cell(tr, text, left) {
    var td = document.createElement("td");
    td.textContent = text;
    if (left) td.className = "t";
    tr.appendChild(td);
  }
  function draw(s) {
    var cols = ["大厅", "大厅名称"];
    if (s.by === "dept") cols.push("部门", "部门名称");
    cols.push("取号数", "办结数", "过号数", "平均等候（分钟）", "P50 等候（分钟）", "P90 等候（分钟）", "评价数",
      "好评率", "差评率", "差评整改率", "到期承诺件数", "按期办结率（到期件）");
    var head = $("head");
    head.textContent = "";
    cols.forEach(function (c) { var th = document.createElement("th"); th.textContent = c; head.appendChild(th); });
    var body = $("body");
    body.textContent = "";
    var rows = s.rows.concat([Object.assign({}, s.total, { hall: "合计" })]);
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      if (r.total) tr.className = "total";
      cell(tr, r.hall || "", true); cell(tr, r.hall_name || "", true);
      if (s.by === "dept") { cell(tr, r.dept || "", true); cell(tr, r.dept_name || "", true); }
      [r.tickets, r.served, r.no_shows, min(r.mean_wait_s), min(r.p50_wait_s), min(r.p90_wait_s), r.rated,
        pct(r.good_rate), pct(r.bad_rate), pct(r.rectify_rate), r.due, pct(r.due_on_time_rate)]
        .forEach(function (v) { cell(tr, String(v)); });
      body.appendChild(tr);
    });
    $("tbl").hidden = false;
    $("msg").textContent = s.from + " — " + s.to;
    $("msg").style.color = "";
  }
  function fail(e) { $("msg").style.color = ""; $("msg").textContent = e.message; $("tbl").hidden = true; }
  function load() { get("/city/api/summary").then(function (r) { return r.json(); }).then(draw, fail); }
  function download(ext) {
    get("/city/export." + ext).then(function (r) { return r.blob(); }).then(function (b) {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(b);
      a.download = "city." + ext;
      a.click();
      URL.revokeObjectURL(a.href);
    }, fail);
  }
  $("f").addEventListener("submit", function (e) { e.preventDefault(); load(); });
  $("today").addEventListener("click", function () { $("from").value = ""; $("to").value = ""; load(); });
  $("csv").addEventListener("click", function () { download("csv"); });
  $("xlsx").addEventListener("click", function () { download("xlsx"); });
  if (tok.value) load();
})();
