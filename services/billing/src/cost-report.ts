import { CostGrouping, type CostBreakdown, type CostReport, type CostReportRequest, type CostRow, type QualityOfService } from '@aigc/proto';
import { invalidArgument } from '@aigc/runtime';
import { roll } from './admission-state.js';
import { dayStart, decodeLimits } from './limits.js';
import type { PriceBook } from './price-book.js';
import { dailyCosts } from './price-table.js';
import { num, str, type SqlDatabase } from './store/sql-database.js';

const DAY_MS = 86_400_000;

/** One cell of the report at its finest grain: a day, a tenant, a model. */
interface Cell {
  day: number;
  tenant: string;
  model: string;
  requests: number;
  tokens: number;
  computeMs: number;
  revenue: number;
  infrastructure: number;
  training: number;
  operations: number;
  computeSamples: number[];
  latencySamples: number[];
  settled: number;
  released: number;
}

/** A tenant's budget burn: spend and holds against its budgets this month and today. */
export interface BudgetBurn {
  tenantId: string;
  name: string;
  monthlyBudgetMicros: number;
  monthSpentMicros: number;
  dailyBudgetMicros: number;
  daySpentMicros: number;
  heldMicros: number;
}

/** `YYYY-MM-DD` of a UTC day number. */
export const dayKey = (day: number): string => new Date(day * DAY_MS).toISOString().slice(0, 10);

/**
 * Cost reports under the cost model: infrastructure (accelerator-seconds at the instance price,
 * network per request, and the day's storage), model training (amortized per request) and
 * operations (the day's people cost). Daily fixed costs are shared among that day's requests in
 * proportion to their number, platform-wide, so a tenant's share does not depend on the filter.
 * Quality of service sits beside cost: p95 Reserve->Settle latency and the share of released
 * (failed or cancelled) reservations, and p95 model compute time per event from the ledger.
 */
export class CostReports {
  constructor(
    private readonly db: SqlDatabase,
    private readonly prices: PriceBook,
  ) {}

  async report(request: CostReportRequest, now = Date.now()): Promise<CostReport> {
    const toMs = request.toMs || now;
    if (request.fromMs < 0 || toMs < 0) throw invalidArgument('from_ms and to_ms must be times >= 0');
    if (toMs <= request.fromMs) throw invalidArgument(`to_ms (${toMs}) must be after from_ms (${request.fromMs})`);
    if (toMs - request.fromMs > 400 * DAY_MS) throw invalidArgument('a report spans at most 400 days');
    // Whole UTC days, so each day's fixed costs are shared among all of that day's requests.
    const from = dayStart(request.fromMs);
    const to = dayStart(toMs - 1) + DAY_MS;
    const tenant = request.tenantId;
    const filter = tenant ? ' AND tenant_id = ?' : '';
    const params = tenant ? [from, to, tenant] : [from, to];

    const { usage, perDay, compute, closed } = await this.db.read(async (tx) => ({
      usage: await tx.all(
        `SELECT occurred_at_ms / ${DAY_MS} AS day, tenant_id, model, COUNT(*) AS requests, SUM(prompt_tokens + completion_tokens) AS tokens,
           SUM(compute_ms) AS compute_ms, SUM(cost_micros) AS revenue, SUM(infrastructure_micros) AS infra, SUM(training_micros) AS training
         FROM usage_events WHERE occurred_at_ms >= ? AND occurred_at_ms < ?${filter} GROUP BY 1, 2, 3`,
        params,
      ),
      perDay: await tx.all(`SELECT occurred_at_ms / ${DAY_MS} AS day, COUNT(*) AS n FROM usage_events WHERE occurred_at_ms >= ? AND occurred_at_ms < ? GROUP BY 1`, [from, to]),
      compute: await tx.all(`SELECT occurred_at_ms / ${DAY_MS} AS day, tenant_id, model, compute_ms FROM usage_events WHERE occurred_at_ms >= ? AND occurred_at_ms < ?${filter}`, params),
      closed: await tx.all(
        `SELECT created_at_ms / ${DAY_MS} AS day, tenant_id, model, state, finished_at_ms - created_at_ms AS ms FROM reservations
         WHERE created_at_ms >= ? AND created_at_ms < ? AND state <> 'held'${filter}`,
        params,
      ),
    }));

    const cells = new Map<string, Cell>();
    const cell = (day: number, tenantId: string, model: string): Cell => {
      const id = `${day}\u0000${tenantId}\u0000${model}`;
      let c = cells.get(id);
      if (!c) {
        c = { day, tenant: tenantId, model, requests: 0, tokens: 0, computeMs: 0, revenue: 0, infrastructure: 0, training: 0, operations: 0, computeSamples: [], latencySamples: [], settled: 0, released: 0 };
        cells.set(id, c);
      }
      return c;
    };
    const dayTotals = new Map(perDay.map((r) => [num(r.day), num(r.n)]));
    for (const r of usage) {
      const day = num(r.day);
      const c = cell(day, str(r.tenant_id), str(r.model));
      c.requests += num(r.requests);
      c.tokens += num(r.tokens);
      c.computeMs += num(r.compute_ms);
      c.revenue += num(r.revenue);
      c.training += num(r.training);
      const fixed = dailyCosts(await this.prices.at(day * DAY_MS));
      const share = num(r.requests) / (dayTotals.get(day) || 1);
      c.infrastructure += num(r.infra) + fixed.storageMicros * share;
      c.operations += fixed.peopleMicros * share;
    }
    for (const r of compute) cell(num(r.day), str(r.tenant_id), str(r.model)).computeSamples.push(num(r.compute_ms));
    for (const r of closed) {
      const c = cell(num(r.day), str(r.tenant_id), str(r.model));
      if (str(r.state) === 'settled') {
        c.settled += 1;
        c.latencySamples.push(num(r.ms));
      } else {
        c.released += 1;
      }
    }

    const groupKey = (c: Cell): string =>
      request.groupBy === CostGrouping.COST_GROUPING_DAY ? dayKey(c.day)
      : request.groupBy === CostGrouping.COST_GROUPING_TENANT ? c.tenant
      : request.groupBy === CostGrouping.COST_GROUPING_MODEL ? c.model
      : 'total';
    const groups = new Map<string, Cell[]>();
    for (const c of cells.values()) groups.set(groupKey(c), [...(groups.get(groupKey(c)) ?? []), c]);
    const rows = [...groups.entries()].map(([key, cs]) => toRow(key, cs)).sort((a, b) => (request.groupBy === CostGrouping.COST_GROUPING_DAY ? a.key.localeCompare(b.key) : b.cost!.totalMicros - a.cost!.totalMicros));
    const table = await this.prices.at(Math.min(toMs, now));
    return { rows, total: toRow('total', [...cells.values()]), currency: table.currency, fromMs: from, toMs: to };
  }

  /** Every tenant's spend against its budgets, now. */
  async budgets(now = Date.now()): Promise<BudgetBurn[]> {
    const rows = await this.db.read((tx) =>
      tx.all(`SELECT t.id, t.name, t.limits, a.* FROM tenants t JOIN admission_state a ON a.scope = 'tenant:' || t.id ORDER BY t.created_at_ms, t.id`),
    );
    return rows.map((r) => {
      const limits = decodeLimits(r.limits);
      const s = roll(
        {
          scope: str(r.scope),
          inFlight: num(r.in_flight),
          windowStartMs: num(r.window_start_ms),
          windowRequests: num(r.window_requests),
          windowTokens: num(r.window_tokens),
          dayStartMs: num(r.day_start_ms),
          daySpentMicros: num(r.day_spent_micros),
          monthStartMs: num(r.month_start_ms),
          monthSpentMicros: num(r.month_spent_micros),
          heldMicros: num(r.held_micros),
        },
        now,
      );
      return {
        tenantId: str(r.id),
        name: str(r.name),
        monthlyBudgetMicros: limits.monthlyBudgetMicros,
        monthSpentMicros: s.monthSpentMicros,
        dailyBudgetMicros: limits.dailyBudgetMicros,
        daySpentMicros: s.daySpentMicros,
        heldMicros: s.heldMicros,
      };
    });
  }
}

function toRow(key: string, cells: Cell[]): CostRow {
  const sum = (f: (c: Cell) => number) => cells.reduce((acc, c) => acc + f(c), 0);
  const infrastructure = Math.round(sum((c) => c.infrastructure));
  const training = Math.round(sum((c) => c.training));
  const operations = Math.round(sum((c) => c.operations));
  return {
    key,
    requests: sum((c) => c.requests),
    tokens: sum((c) => c.tokens),
    acceleratorSeconds: sum((c) => c.computeMs) / 1000,
    revenueMicros: sum((c) => c.revenue),
    cost: breakdown(infrastructure, training, operations),
    qos: qos(cells),
  };
}

/** A breakdown with each component's share of the total (0 when the total is 0). */
export function breakdown(infrastructure: number, training: number, operations: number): CostBreakdown {
  const total = infrastructure + training + operations;
  const share = (v: number) => (total > 0 ? v / total : 0);
  return {
    infrastructureMicros: infrastructure,
    trainingMicros: training,
    operationsMicros: operations,
    totalMicros: total,
    infrastructureShare: share(infrastructure),
    trainingShare: share(training),
    operationsShare: share(operations),
  };
}

function qos(cells: Cell[]): QualityOfService {
  const settled = cells.reduce((a, c) => a + c.settled, 0);
  const released = cells.reduce((a, c) => a + c.released, 0);
  return {
    p95LatencyMs: percentile(cells.flatMap((c) => c.latencySamples), 0.95),
    p95ComputeMs: percentile(cells.flatMap((c) => c.computeSamples), 0.95),
    errorRate: settled + released > 0 ? released / (settled + released) : 0,
    settled,
    released,
  };
}

/** Nearest-rank percentile (0 for no samples). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
