// The dashboard: signs in with a key kept in this tab's sessionStorage, calls the billing API
// and shows its answers. Amounts are the API's decimal strings, shown as they come; every value
// from the API reaches the page through textContent, never as HTML.
"use strict";

const BASE = "/api/v1/llm/billing";
const KEY = "llmhub.apiKey";
const ADMIN = "llmhub.adminToken";
const $ = (id) => document.getElementById(id);
const state = { offset: 0 };

class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
  }
}

function detailText(detail) {
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  return String(detail);
}

async function call(path, params, headers) {
  const url = new URL(path, window.location.origin);
  Object.entries(params || {}).forEach(([k, v]) => { if (v !== "" && v !== null && v !== undefined) url.searchParams.set(k, v); });
  const response = await fetch(url, { headers, cache: "no-store", credentials: "omit" });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, detailText(body.detail ?? body));
  return body;
}

const api = (path, params) => call(`${BASE}${path}`, params, { "x-api-key": sessionStorage.getItem(KEY) });
const admin = (path, params) => call(`/admin/v1${path}`, params, { Authorization: `Bearer ${sessionStorage.getItem(ADMIN)}` });

// -- small DOM helpers --------------------------------------------------------------------
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function table(node, columns, rows, onClick) {
  node.replaceChildren();
  const head = el("tr");
  columns.forEach(([label, , cls]) => head.append(el("th", label, cls)));
  node.append(el("thead"));
  node.tHead.append(head);
  const body = el("tbody");
  rows.forEach((row) => {
    const tr = el("tr", null, row._class);
    columns.forEach(([, get, cls]) => tr.append(el("td", get(row), cls)));
    if (onClick) { tr.tabIndex = 0; tr.addEventListener("click", () => onClick(row)); }
    body.append(tr);
  });
  if (!rows.length) {
    const tr = el("tr");
    const td = el("td", "nothing in this period", "muted");
    td.colSpan = columns.length;
    tr.append(td);
    body.append(tr);
  }
  node.append(body);
}

const int = (n) => Number(n).toLocaleString("en-US");
const when = (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d+)?\+00:00$/, " UTC") : "");

function showError(id, err) {
  const node = $(id);
  node.textContent = err ? (err.message || String(err)) : "";
  node.hidden = !err;
}

// -- sign-in ------------------------------------------------------------------------------
function show(view) {
  $("sign-in").hidden = view !== "sign-in";
  $("client-view").hidden = view !== "client";
  $("admin-view").hidden = view !== "admin";
  $("sign-out").hidden = view === "sign-in";
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(ADMIN);
  Charts.dispose();
  ["who", "as-of"].forEach((id) => { $(id).textContent = ""; });
  ["logs-table", "providers-table", "endpoints-table", "clients-table"].forEach((id) => $(id).replaceChildren());
  show("sign-in");
  showError("sign-in-error", message ? new Error(message) : null);
}

async function signIn(key) {
  sessionStorage.setItem(KEY, key);
  try {
    const month = await api("/usage/current-month");
    $("who").textContent = `client ${month.client_id}`;
    show("client");
    setPreset("30");
    await refresh();
  } catch (err) {
    signOut(err.status === 401
      ? "This API key was not accepted: it is unknown, mistyped or revoked. Check it and try again."
      : `Could not sign in: ${err.message}`);
  }
}

async function signInAdmin(token) {
  sessionStorage.setItem(ADMIN, token);
  try {
    show("admin"); // charts need a visible container to take their size
    $("who").textContent = "administrator";
    await loadAdmin();
  } catch (err) {
    signOut(err.status === 401 || err.status === 403
      ? `The admin token was not accepted (${err.message}).`
      : `Could not open the admin view: ${err.message}`);
  }
}

// -- period -------------------------------------------------------------------------------
const day = (d) => d.toISOString().slice(0, 10);

function setPreset(preset) {
  const now = new Date();
  const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  let from = new Date(today);
  let group = "day";
  if (preset === "month") from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  else if (preset === "1") { from.setUTCDate(from.getUTCDate() - 1); group = "hour"; }
  else if (preset === "365") { from = new Date(Date.UTC(now.getUTCFullYear() - 1, now.getUTCMonth() + 1, 1)); group = "month"; }
  else from.setUTCDate(from.getUTCDate() - Number(preset) + 1);
  $("from").value = day(from);
  $("to").value = day(today);
  $("group-by").value = group;
}

function period() {
  const end = new Date(`${$("to").value}T00:00:00Z`);
  end.setUTCDate(end.getUTCDate() + 1);
  return { start_date: `${$("from").value}T00:00:00Z`, end_date: end.toISOString().replace(".000Z", "Z") };
}

// -- client view --------------------------------------------------------------------------
async function refresh() {
  showError("error", null);
  const p = period();
  try {
    const [summary, providers, endpoints, month] = await Promise.all([
      api("/usage/summary", { ...p, group_by: $("group-by").value }),
      api("/usage/by-provider", p),
      api("/usage/by-endpoint", p),
      api("/usage/current-month"),
    ]);
    renderSummary(summary);
    renderProviders(providers);
    renderEndpoints(endpoints);
    renderBudget(month);
    fillFilter("f-provider", providers.providers.map((x) => x.provider));
    fillFilter("f-endpoint", endpoints.endpoints.map((x) => x.endpoint));
    await loadLogs();
  } catch (err) {
    if (err.status === 401) return signOut("The API key is no longer accepted (revoked?). Sign in again.");
    showError("error", err);
  }
}

function renderSummary(s) {
  $("kpi-cost").textContent = s.totals.cost_usd;
  $("kpi-calls").textContent = int(s.totals.calls);
  $("kpi-tokens").textContent = `${int(s.totals.input_tokens)} / ${int(s.totals.output_tokens)}`;
  $("kpi-unpriced").textContent = int(s.totals.unpriced_calls);
  $("as-of").textContent = s.as_of ? `data complete up to ${when(s.as_of)}` : "no calls stored yet";
  $("as-of").dataset.asOf = s.as_of || "";
  Charts.spend("chart-spend", s.buckets, s.group_by);
}

const metricCols = [
  ["Cost (USD)", (r) => r.cost_usd, "num money"],
  ["Share", (r) => `${(r.cost_share * 100).toFixed(1)}%`, "num"],
  ["Calls", (r) => int(r.calls), "num"],
  ["Success", (r) => `${(r.success_rate * 100).toFixed(1)}%`, "num"],
  ["Avg ms", (r) => r.avg_latency_ms, "num"],
];

function nestedRows(items, key, childKey, childName) {
  const rows = [];
  items.forEach((it) => {
    rows.push({ ...it, _name: it[key], _class: "parent" });
    it[childKey].forEach((c) => rows.push({ ...c, _name: `  ${c[childName]}`, _class: "child" }));
  });
  return rows;
}

function renderProviders(b) {
  Charts.breakdown("chart-providers", b.providers, "provider");
  table($("providers-table"), [["Provider / model", (r) => r._name], ...metricCols],
    nestedRows(b.providers, "provider", "models", "model"));
}

function renderEndpoints(b) {
  Charts.breakdown("chart-endpoints", b.endpoints, "endpoint");
  table($("endpoints-table"), [["Endpoint / provider", (r) => r._name], ...metricCols],
    nestedRows(b.endpoints, "endpoint", "providers", "provider"));
}

function renderBudget(m) {
  $("budget-month").textContent = m.month;
  Charts.budget("chart-budget", m);
  const facts = [
    ["Spent", `${m.spend_usd} USD`],
    ["Budget", m.monthly_budget_usd === null ? "none set" : `${m.monthly_budget_usd} USD`],
    ["Remaining", m.remaining_usd === null ? "—" : `${m.remaining_usd} USD`],
    ["Projected month end", `${m.projected_month_end_usd} USD`],
    ["Used", m.percent_used === null ? "—" : `${m.percent_used}%`],
    ["Status", m.status],
  ];
  const dl = $("budget-facts");
  dl.replaceChildren();
  facts.forEach(([k, v]) => { dl.append(el("dt", k), el("dd", v, k === "Status" ? `status-${m.status}` : "")); });
  const ul = $("budget-alerts");
  ul.replaceChildren();
  m.alerts.forEach((a) => ul.append(el("li", `${a.threshold_percent}% crossed (${a.threshold_usd} USD): ${a.message}`, a.level)));
}

function fillFilter(id, values) {
  const select = $(id);
  const current = select.value;
  const known = new Set([...select.options].map((o) => o.value));
  values.forEach((v) => { if (!known.has(v)) select.append(new Option(v, v)); });
  select.value = current;
}

function logParams() {
  return {
    limit: $("f-limit").value,
    offset: state.offset,
    provider: $("f-provider").value,
    endpoint: $("f-endpoint").value,
    success: $("f-success").value,
  };
}

async function loadLogs() {
  const page = await api("/logs", logParams());
  const first = page.total ? page.offset + 1 : 0;
  $("page-info").textContent = `${int(first)}–${int(page.offset + page.items.length)} of ${int(page.total)}`;
  $("prev").disabled = page.offset === 0;
  $("next").disabled = !page.has_more;
  table($("logs-table"), [
    ["Time (UTC)", (r) => when(r.occurred_at)],
    ["Provider", (r) => r.provider],
    ["Model", (r) => r.model],
    ["Endpoint", (r) => r.endpoint],
    ["Tokens in/out", (r) => `${int(r.input_tokens)} / ${int(r.output_tokens)}`, "num"],
    ["Cost (USD)", (r) => (r.cost_usd === null ? "unpriced" : r.cost_usd), "num money"],
    ["ms", (r) => r.latency_ms, "num"],
    ["Result", (r) => (r.success ? "ok" : r.error_type || "failed")],
  ], page.items.map((r) => ({ ...r, _class: r.success ? "" : "failed" })), showDetail);
}

async function showDetail(row) {
  try {
    const d = await api(`/logs/${encodeURIComponent(row.log_id)}`);
    $("detail-id").textContent = d.log_id;
    const dl = $("detail-facts");
    dl.replaceChildren();
    ["occurred_at", "ingested_at", "provider", "model", "endpoint", "input_tokens", "output_tokens",
      "cached_input_tokens", "reasoning_tokens", "cost_usd", "cost_source", "price_version",
      "latency_ms", "success", "status_code", "error_type", "error_message", "request_id",
      "end_user_id"].forEach((k) => dl.append(el("dt", k), el("dd", d[k] === null ? "—" : d[k])));
    dl.append(el("dt", "source"), el("dd", `${d.source.kind} ${d.source.partition ?? ""} ${d.source.offset ?? ""}`));
    $("detail-request").textContent = JSON.stringify(d.request_metadata, null, 2);
    $("detail-response").textContent = JSON.stringify(d.response_metadata, null, 2);
    $("detail").showModal();
  } catch (err) {
    showError("error", err);
  }
}

// Downloads go through fetch (the key travels in a header, never in a URL).
async function download(path, params) {
  try {
    const url = new URL(`${BASE}${path}`, window.location.origin);
    Object.entries(params).forEach(([k, v]) => { if (v !== "" && v !== null) url.searchParams.set(k, v); });
    const response = await fetch(url, { headers: { "x-api-key": sessionStorage.getItem(KEY) }, credentials: "omit" });
    if (!response.ok) throw new ApiError(response.status, detailText((await response.json()).detail));
    const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "")?.[1] || "export.csv";
    const link = el("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (err) {
    showError("error", err);
  }
}

// -- admin view ---------------------------------------------------------------------------
async function loadAdmin() {
  const o = await admin("/overview");
  $("admin-month").textContent = o.month;
  $("admin-total").textContent = o.total_spend_usd;
  Charts.clients("chart-clients", o.clients);
  table($("clients-table"), [
    ["Client", (r) => r.client_id],
    ["Name", (r) => r.name],
    ["Spend MTD (USD)", (r) => r.spend_usd, "num money"],
    ["Calls", (r) => int(r.calls), "num"],
    ["Budget (USD)", (r) => r.monthly_budget_usd ?? "none", "num"],
    ["Used", (r) => (r.percent_used === null ? "—" : `${r.percent_used}%`), "num"],
    ["Projected (USD)", (r) => r.projected_month_end_usd, "num"],
    ["Status", (r) => r.status],
    ["Thresholds crossed", (r) => r.thresholds_crossed.map((t) => `${t}%`).join(", ") || "—"],
  ], o.clients.map((r) => ({ ...r, _class: `status-${r.status}` })));
}

// -- wiring -------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("api-key").value.trim();
    $("api-key").value = "";
    signIn(key);
  });
  $("admin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("admin-token").value.trim();
    $("admin-token").value = "";
    signInAdmin(token);
  });
  $("sign-out").addEventListener("click", () => signOut(null));
  $("apply").addEventListener("click", refresh);
  document.querySelectorAll("[data-preset]").forEach((b) => b.addEventListener("click", () => { setPreset(b.dataset.preset); refresh(); }));
  ["f-provider", "f-endpoint", "f-success", "f-limit"].forEach((id) => $(id).addEventListener("change", () => { state.offset = 0; loadLogs().catch((e) => showError("error", e)); }));
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - Number($("f-limit").value)); loadLogs().catch((e) => showError("error", e)); });
  $("next").addEventListener("click", () => { state.offset += Number($("f-limit").value); loadLogs().catch((e) => showError("error", e)); });
  $("export-logs").addEventListener("click", () => {
    const f = logParams();
    download("/exports/logs", { ...period(), format: "csv", provider: f.provider, endpoint: f.endpoint, success: f.success });
  });
  $("export-usage").addEventListener("click", () => download("/exports/usage", { ...period(), format: "csv", group_by: $("group-by").value }));
  if (sessionStorage.getItem(KEY)) signIn(sessionStorage.getItem(KEY));
  else if (sessionStorage.getItem(ADMIN)) signInAdmin(sessionStorage.getItem(ADMIN));
  else show("sign-in");
});
