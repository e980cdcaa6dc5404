// Manager console charts: Apache ECharts (vendored, /assets/vendor/echarts)
// with the SVG renderer and rich-text tooltips, so nothing needs
// 'unsafe-inline' or 'unsafe-eval' under the Content-Security-Policy.
// Data: GET /api/v1/manager/reports/series (hallctl/report/series.go), in
// the hall's time zone. Each chart has a text alternative (role="img" with
// an aria-label summing it up) and a data table behind a toggle.
"use strict";
const SHCharts = (() => {
  const font = getComputedStyle(document.documentElement).fontFamily;
  const palette = ["#1565c0", "#c62828", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#ad1457"];
  const instances = {};
  const hh = (h) => String(h).padStart(2, "0") + ":00";
  const r1 = (x) => x === null || x === undefined ? null : Math.round(x * 10) / 10;
  const base = () => ({
    animation: false, color: palette, textStyle: { fontFamily: font, fontSize: 13 },
    grid: { left: 56, right: 56, top: 48, bottom: 40 },
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: { top: 0, type: "scroll" },
  });

  // box builds (once) the chart's parts inside its figure: the drawing,
  // the toggle and the data table.
  function box(id) {
    const fig = document.getElementById(id);
    let el = fig.querySelector(".chart");
    if (!el) {
      el = document.createElement("div"); el.className = "chart"; el.setAttribute("role", "img"); fig.appendChild(el);
      const b = document.createElement("button"); b.className = "btn toggle"; b.type = "button";
      const tbl = document.createElement("table"); tbl.id = id + "-table"; tbl.className = "hidden";
      b.setAttribute("aria-controls", tbl.id); b.setAttribute("aria-expanded", "false");
      b.textContent = "显示数据表 Show data table";
      b.onclick = () => {
        const open = tbl.classList.toggle("hidden") === false;
        b.setAttribute("aria-expanded", String(open));
        b.textContent = open ? "隐藏数据表 Hide data table" : "显示数据表 Show data table";
      };
      fig.appendChild(b); fig.appendChild(tbl);
    }
    return { fig, el, table: fig.querySelector("table") };
  }

  function draw(id, option, summary, head, rows) {
    const { el, table } = box(id);
    el.setAttribute("aria-label", summary);
    let c = instances[id];
    if (!c) { c = echarts.init(el, null, { renderer: "svg", locale: "ZH" }); instances[id] = c; }
    c.setOption(option, true);
    table.innerHTML = SH.html`<caption class="sr-only">${summary}</caption><thead><tr>${head.map(h => SH.html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows.map(r => SH.html`<tr>${r.map((v, i) => i === 0 ? SH.html`<th scope="row">${v}</th>` : SH.html`<td class="num">${v === null || v === undefined ? "—" : v}</td>`)}</tr>`)}</tbody>`;
  }

  // peak names the highest value of a series and its hour.
  function peak(vals, labels, unit) {
    let k = -1;
    vals.forEach((v, i) => { if (v !== null && v !== undefined && (k < 0 || v > vals[k])) k = i; });
    return k < 0 ? "无数据" : `最高 ${r1(vals[k])}${unit}（${labels[k]}）`;
  }

  function render(s) {
    const hours = s.hours.map(hh);
    // 1. Waiting by department.
    const wSeries = s.depts.map(d => ({ name: d.name, type: "line", data: d.waiting.map(r1), connectNulls: false, symbolSize: 6 }));
    draw("ch-waiting", Object.assign(base(), {
      xAxis: { type: "category", data: hours, name: "时刻" },
      yAxis: { type: "value", name: "人", minInterval: 1 },
      series: wSeries,
    }), `各部门等候人数，${s.day}：` + s.depts.map(d => d.name + " " + peak(d.waiting, hours, " 人")).join("；"),
    ["部门 \\ 时刻", ...hours], s.depts.map(d => [d.name, ...d.waiting.map(r1)]));

    // 2. Mean wait by department (minutes, by the hour of the call).
    const mins = (d) => d.wait_mean_s.map(x => x === null ? null : r1(x / 60));
    draw("ch-wait", Object.assign(base(), {
      xAxis: { type: "category", data: hours, name: "时刻" },
      yAxis: { type: "value", name: "分钟" },
      series: s.depts.map(d => ({ name: d.name, type: "line", data: mins(d), connectNulls: false, symbolSize: 6 })),
    }), `各部门平均等候时间，${s.day}：` + s.depts.map(d => d.name + " " + peak(mins(d), hours, " 分钟")).join("；"),
    ["部门 \\ 时刻", ...hours], s.depts.map(d => [d.name, ...mins(d)]));

    // 3. Window utilisation heatmap (windows × hours), percent.
    const wins = s.windows.map(w => w.number + " 号窗口");
    const cells = [];
    s.windows.forEach((w, y) => w.util.forEach((u, x) => { if (u !== null) cells.push([x, y, Math.round(u * 100)]); }));
    draw("ch-util", Object.assign(base(), {
      tooltip: { renderMode: "richText", formatter: (p) => `${wins[p.value[1]]} ${hours[p.value[0]]}：${p.value[2]}%` },
      legend: { show: false },
      grid: { left: 80, right: 24, top: 24, bottom: 80 },
      xAxis: { type: "category", data: hours, name: "时刻", splitArea: { show: true } },
      yAxis: { type: "category", data: wins, splitArea: { show: true } },
      visualMap: { min: 0, max: 100, orient: "horizontal", left: "center", bottom: 0, text: ["100%", "0%"], calculable: false,
        inRange: { color: ["#e3f2fd", "#64b5f6", "#0d47a1"] } },
      series: [{ name: "利用率", type: "heatmap", data: cells, label: { show: true, formatter: (p) => p.value[2] + "" } }],
    }), `窗口利用率，${s.day}：` + s.windows.map((w, i) => wins[i] + " " + peak(w.util.map(u => u === null ? null : Math.round(u * 100)), hours, "%")).join("；"),
    ["窗口 \\ 时刻", ...hours], s.windows.map((w, i) => [wins[i], ...w.util.map(u => u === null ? null : Math.round(u * 100) + "%")]));

    // 4. Arrivals against the what-if preview's forecast.
    const total = s.arrivals.reduce((a, b) => a + (b || 0), 0);
    draw("ch-arrivals", Object.assign(base(), {
      xAxis: { type: "category", data: hours, name: "时刻" },
      yAxis: { type: "value", name: "张/小时", minInterval: 1 },
      series: [
        { name: "实际取号", type: "bar", data: s.arrivals, barMaxWidth: 22 },
        { name: "预测", type: "line", data: s.forecast.map(r1), lineStyle: { type: "dashed" }, symbolSize: 6 },
      ],
    }), `取号人数与预测，${s.day}：共取号 ${total} 张，实际 ${peak(s.arrivals, hours, " 张")}`,
    ["", ...hours], [["实际取号", ...s.arrivals], ["预测", ...s.forecast.map(r1)]]);

    // 5. Satisfaction by day of issue.
    const days = s.trend.map(d => d.day.slice(5));
    const sat = s.trend.map(d => d.satisfaction === null ? null : Math.round(d.satisfaction * 100));
    const rated = s.trend.map(d => d.ratings.reduce((a, b) => a + b, 0));
    draw("ch-sat", Object.assign(base(), {
      xAxis: { type: "category", data: days, name: "日期" },
      yAxis: [{ type: "value", name: "满意度 %", min: 0, max: 100 }, { type: "value", name: "评价数", minInterval: 1, splitLine: { show: false } }],
      series: [
        { name: "满意度（4–5 分占比）", type: "line", data: sat, connectNulls: true, symbolSize: 7 },
        { name: "评价数", type: "bar", yAxisIndex: 1, data: rated, barMaxWidth: 18, itemStyle: { color: "#b0bec5" } },
      ],
    }), `满意度趋势 ${s.trend.length ? s.trend[0].day + " 至 " + s.trend[s.trend.length - 1].day : ""}：共 ${rated.reduce((a, b) => a + b, 0)} 条评价，` + (sat.some(x => x !== null) ? "满意度" + peak(sat, days, "%").replace("最高", "最高为") : "无评价"),
    ["日期", "满意度", "评价数", "1 分", "2 分", "3 分", "4 分", "5 分"],
    s.trend.map((d, i) => [d.day, sat[i] === null ? null : sat[i] + "%", rated[i], ...d.ratings]));
  }

  // points counts the data values each chart draws (the browser test).
  function points() {
    const out = {};
    Object.keys(instances).forEach(id => {
      out[id] = instances[id].getOption().series.reduce((n, se) => n + se.data.filter(v => v !== null && v !== undefined).length, 0);
    });
    return out;
  }
  window.addEventListener("resize", () => Object.values(instances).forEach(c => c.resize()));
  return { render, points, instances };
})();
