// Chart options for ECharts. Geometry may use numbers; every amount a person reads (tooltips,
// labels) is the API's own decimal string, carried on each data item as `text`.
"use strict";

const Charts = (() => {
  const instances = {};

  function chart(id) {
    const el = document.getElementById(id);
    if (!instances[id]) {
      instances[id] = echarts.init(el, null, { renderer: "canvas" });
      window.addEventListener("resize", () => instances[id].resize());
    }
    return instances[id];
  }

  // A data item: the plotted number, and the exact text a person sees.
  function item(amount, extra) {
    return Object.assign({ value: Number(amount), text: amount }, extra || {});
  }

  // Tooltips are HTML: names come from events (a provider is whatever a producer sent).
  function esc(text) {
    return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  function moneyTip(params) {
    const list = Array.isArray(params) ? params : [params];
    return list
      .map((p) => `${esc(p.name || p.axisValueLabel)}<br>${p.marker || ""}${esc(p.seriesName)}: ` +
        `${esc(p.data.text)} USD` + (p.data.calls !== undefined ? ` · ${esc(p.data.calls)} calls` : ""))
      .join("<br>");
  }

  function spend(id, buckets, groupBy) {
    const label = (start) => {
      const iso = start.replace("+00:00", "Z");
      if (groupBy === "hour") return iso.slice(0, 13).replace("T", " ") + ":00";
      if (groupBy === "day") return iso.slice(0, 10);
      return iso.slice(0, 7);
    };
    chart(id).setOption({
      animation: false,
      grid: { left: 50, right: 16, top: 16, bottom: 40 },
      tooltip: { trigger: "axis", formatter: moneyTip },
      xAxis: { type: "category", data: buckets.map((b) => label(b.start)) },
      yAxis: { type: "value", name: "USD" },
      series: [{
        name: "cost",
        type: "bar",
        data: buckets.map((b) => item(b.cost_usd, { calls: b.calls, start: b.start })),
      }],
    }, true);
  }

  function breakdown(id, items, key) {
    chart(id).setOption({
      animation: false,
      grid: { left: 130, right: 110, top: 6, bottom: 6 },
      tooltip: { trigger: "item", formatter: moneyTip },
      xAxis: { type: "value", show: false },
      yAxis: { type: "category", inverse: true, data: items.map((it) => it[key]) },
      series: [{
        name: "cost",
        type: "bar",
        barMaxWidth: 18,
        label: { show: true, position: "right", formatter: (p) => `${p.data.text} USD` },
        data: items.map((it) => item(it.cost_usd, { name: it[key], calls: it.calls })),
      }],
    }, true);
  }

  function budget(id, month) {
    const limit = month.monthly_budget_usd;
    const pct = month.percent_used === null ? 100 : month.percent_used;
    // Position of the projection needle only; its label is the API's projected amount.
    const projectedPct = limit && Number(limit) > 0
      ? (Number(month.projected_month_end_usd) / Number(limit)) * 100 : 0;
    const max = Math.max(100, Math.ceil(Math.max(pct, projectedPct) / 25) * 25);
    const stops = (month.alert_thresholds || []).slice().sort((a, b) => a - b);
    const colors = [];
    let prev = 0;
    const palette = ["#3aa675", "#e6a23c", "#e07b39", "#d64545"];
    stops.concat([max]).forEach((t, i) => {
      if (t > prev && t <= max) {
        colors.push([t / max, palette[Math.min(i, palette.length - 1)]]);
        prev = t;
      }
    });
    if (!colors.length || colors[colors.length - 1][0] < 1) colors.push([1, "#d64545"]);
    chart(id).setOption({
      animation: false,
      series: [{
        type: "gauge",
        min: 0,
        max: max,
        radius: "95%",
        center: ["50%", "58%"],
        splitNumber: 4,
        axisLine: { lineStyle: { width: 12, color: colors } },
        axisTick: { show: false },
        splitLine: { length: 10 },
        axisLabel: { formatter: (v) => `${Math.round(v)}%`, distance: 16, fontSize: 10 },
        pointer: { width: 5 },
        detail: {
          valueAnimation: false,
          fontSize: 13,
          offsetCenter: [0, "75%"],
          formatter: () => limit === null ? "no budget set" : `${month.spend_usd} of ${limit} USD`,
        },
        title: { show: false },
        data: [
          { value: Math.min(pct, max), name: "spent", text: month.spend_usd },
          { value: Math.min(projectedPct, max), name: "", text: month.projected_month_end_usd,
            itemStyle: { color: "#999" }, pointer: { width: 3 } },
        ],
      }],
    }, true);
  }

  function clients(id, rows) {
    chart(id).setOption({
      animation: false,
      grid: { left: 110, right: 24, top: 10, bottom: 24 },
      tooltip: { trigger: "axis", formatter: moneyTip },
      xAxis: { type: "value", name: "USD" },
      yAxis: { type: "category", inverse: true, data: rows.map((r) => r.client_id) },
      series: [{
        name: "month to date",
        type: "bar",
        data: rows.map((r) => item(r.spend_usd, { calls: r.calls })),
      }],
    }, true);
  }

  function dispose() {
    Object.keys(instances).forEach((k) => { instances[k].dispose(); delete instances[k]; });
  }

  return { spend, breakdown, budget, clients, dispose, instance: (id) => instances[id] };
})();
