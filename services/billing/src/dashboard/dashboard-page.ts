import type { CostReport, CostRow } from '@aigc/proto';
import type { BudgetBurn } from '../cost-report.js';
import { COMPONENT_COLORS, donut, esc, horizontalBars, legend, stackedBars, type Part } from './svg-charts.js';

/** Everything the page shows, as the JSON API serves it. */
export interface DashboardData {
  total: CostReport;
  daily: CostReport;
  tenants: CostReport;
  models: CostReport;
  budgets: BudgetBurn[];
  tenantNames: Map<string, string>;
}

/** Micro-units as money: `12.3456 USD`. */
export function money(micros: number, currency: string): string {
  return `${(micros / 1e6).toFixed(micros !== 0 && Math.abs(micros) < 10_000 ? 6 : 4)} ${currency}`;
}

const components = (row: CostRow | undefined): Part[] => [
  { label: 'infrastructure', value: row?.cost?.infrastructureMicros ?? 0, color: COMPONENT_COLORS.infrastructure },
  { label: 'training', value: row?.cost?.trainingMicros ?? 0, color: COMPONENT_COLORS.training },
  { label: 'operations', value: row?.cost?.operationsMicros ?? 0, color: COMPONENT_COLORS.operations },
];

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

/** Renders the cost dashboard: cost share, cost over time, per tenant and model, budget burn, QoS beside cost. */
export function renderDashboard(data: DashboardData): string {
  const cur = data.total.currency;
  const fmt = (v: number) => money(v, cur);
  const total = data.total.total;
  const range = `${new Date(data.total.fromMs).toISOString().slice(0, 10)} to ${new Date(data.total.toMs - 1).toISOString().slice(0, 10)}`;
  const name = (id: string) => data.tenantNames.get(id) ?? id;

  const shareRows = components(total)
    .map((p) => `<tr data-component="${p.label}"><td>${legend([p])}</td><td class="num">${esc(fmt(p.value))}</td><td class="num share">${pct(total?.cost?.totalMicros ? p.value / total.cost.totalMicros : 0)}</td></tr>`)
    .join('');

  const qosRows = data.models.rows
    .map(
      (r) => `<tr data-model="${esc(r.key)}"><td>${esc(r.key)}</td><td class="num">${r.requests}</td><td class="num cost">${esc(fmt(r.cost?.totalMicros ?? 0))}</td>
        <td class="num">${esc(fmt(r.revenueMicros))}</td><td class="num p95">${(r.qos?.p95LatencyMs ?? 0).toFixed(1)}</td>
        <td class="num">${(r.qos?.p95ComputeMs ?? 0).toFixed(1)}</td><td class="num error-rate">${pct(r.qos?.errorRate ?? 0)}</td></tr>`,
    )
    .join('');

  const budgetRows = data.budgets.map((b) => ({
    key: b.tenantId,
    label: b.name,
    value: b.monthSpentMicros + b.heldMicros,
    limit: b.monthlyBudgetMicros || undefined,
    color: b.monthlyBudgetMicros && b.monthSpentMicros + b.heldMicros > 0.9 * b.monthlyBudgetMicros ? '#d1453b' : '#2f6fdf',
    note: b.monthlyBudgetMicros ? `${fmt(b.monthSpentMicros + b.heldMicros)} of ${fmt(b.monthlyBudgetMicros)}` : `${fmt(b.monthSpentMicros + b.heldMicros)} (no budget)`,
  }));

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cost dashboard - AIGC platform</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#b8c0cc}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:16px;padding:16px 24px}
section{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}section h2{margin:0 0 10px;font-size:15px}
.wide{grid-column:1/-1}.row{display:flex;gap:16px;align-items:center}
table{border-collapse:collapse;width:100%}td,th{padding:4px 8px;border-bottom:1px solid #eceef2;text-align:left}.num{text-align:right;font-variant-numeric:tabular-nums}
.legend{list-style:none;margin:0;padding:0;display:flex;gap:12px}.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.tick{font-size:11px;fill:#5b6473}.value{font-size:11px;fill:#1d2330}.grid{stroke:#eceef2}.limit{stroke:#d1453b;stroke-width:2}.donut-total{font-size:13px;font-weight:600}
.kpis{display:flex;gap:24px}.kpi b{display:block;font-size:20px}
</style></head>
<body>
<header><h1>Cost dashboard</h1><p>${esc(range)} (UTC) &middot; currency ${esc(cur)} &middot; cost = infrastructure + model training + operations</p></header>
<main>
<section id="summary" class="wide" data-total-micros="${total?.cost?.totalMicros ?? 0}" data-requests="${total?.requests ?? 0}">
  <div class="kpis">
    <div class="kpi">Total cost<b id="total-cost">${esc(fmt(total?.cost?.totalMicros ?? 0))}</b></div>
    <div class="kpi">Charged to tenants<b id="total-revenue">${esc(fmt(total?.revenueMicros ?? 0))}</b></div>
    <div class="kpi">Requests<b id="total-requests">${total?.requests ?? 0}</b></div>
    <div class="kpi">Accelerator-seconds<b>${(total?.acceleratorSeconds ?? 0).toFixed(1)}</b></div>
    <div class="kpi">p95 latency<b id="total-p95">${(total?.qos?.p95LatencyMs ?? 0).toFixed(1)} ms</b></div>
    <div class="kpi">Error rate<b id="total-error-rate">${pct(total?.qos?.errorRate ?? 0)}</b></div>
  </div>
</section>
<section id="share"><h2>Cost share by component</h2><div class="row">${donut('Cost share by component', components(total), fmt)}<table>${shareRows}</table></div></section>
<section id="over-time"><h2>Cost over time</h2>${stackedBars('Cost over time by component', data.daily.rows.map((r) => ({ key: r.key, parts: components(r) })), fmt)}${legend(components(undefined))}</section>
<section id="per-tenant"><h2>Cost per tenant</h2>${horizontalBars('Cost per tenant', data.tenants.rows.map((r) => ({ key: r.key, label: name(r.key), value: r.cost?.totalMicros ?? 0 })), fmt)}</section>
<section id="per-model"><h2>Cost per model</h2>${horizontalBars('Cost per model', data.models.rows.map((r) => ({ key: r.key, label: r.key, value: r.cost?.totalMicros ?? 0, color: '#7a5af5' })), fmt)}</section>
<section id="budget-burn"><h2>Budget burn this month (spent + held)</h2>${horizontalBars('Budget burn per tenant', budgetRows, fmt)}</section>
<section id="qos" class="wide"><h2>Quality of service beside cost, per model</h2>
<table><thead><tr><th>model</th><th class="num">requests</th><th class="num">cost</th><th class="num">charged</th><th class="num">p95 latency ms</th><th class="num">p95 compute ms</th><th class="num">error rate</th></tr></thead><tbody>${qosRows}</tbody></table>
<p class="note">Latency: Reserve to Settle of settled reservations. Error rate: released (failed or cancelled) reservations over finished ones. Compute: model execution time per usage event.</p></section>
</main></body></html>`;
}
