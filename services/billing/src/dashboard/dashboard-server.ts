import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CostGrouping, CostReport } from '@aigc/proto';
import { ServiceError, type Logger } from '@aigc/runtime';
import type { CostReports } from '../cost-report.js';
import type { UsageLedger } from '../usage-ledger.js';
import { renderDashboard } from './dashboard-page.js';

const DAY_MS = 86_400_000;
const GROUPS: Record<string, CostGrouping> = {
  summary: CostGrouping.COST_GROUPING_UNSPECIFIED,
  daily: CostGrouping.COST_GROUPING_DAY,
  tenants: CostGrouping.COST_GROUPING_TENANT,
  models: CostGrouping.COST_GROUPING_MODEL,
};

/** A running dashboard server. */
export interface DashboardServer {
  port: number;
  close(): Promise<void>;
}

/** Reads `from`/`to` (ms or ISO dates) and `tenant` from a query; default: the last 30 days. */
export function reportRange(url: URL, now = Date.now()): { fromMs: number; toMs: number; tenantId: string } {
  const time = (name: string, fallback: number): number => {
    const raw = url.searchParams.get(name);
    if (raw === null || raw === '') return fallback;
    const value = /^-?\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
    if (!Number.isFinite(value) || value < 0) throw new HttpError(400, `${name} must be a time in ms since the epoch or an ISO date (got "${raw}")`);
    return value;
  };
  const toMs = time('to', now);
  return { fromMs: time('from', toMs - 30 * DAY_MS), toMs, tenantId: url.searchParams.get('tenant') ?? '' };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Serves the cost dashboard (`GET /dashboard`, server-rendered HTML with inline SVG charts) and
 * its data (`GET /api/costs/{summary,daily,tenants,models}`, `GET /api/budgets`,
 * `GET /api/ledger/totals`), all with `?from=&to=&tenant=`. Read-only; bind it to an internal interface.
 */
export async function startDashboardServer(options: { reports: CostReports; ledger: UsageLedger; host?: string; port: number; logger: Logger }): Promise<DashboardServer> {
  const { reports, ledger, logger } = options;
  const report = (url: URL, groupBy: CostGrouping) => reports.report({ ...reportRange(url), groupBy });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://billing');
    if (req.method !== 'GET') throw new HttpError(405, 'only GET');
    const json = (body: unknown) => send(res, 200, 'application/json', JSON.stringify(body));
    const costs = /^\/api\/costs\/(\w+)$/.exec(url.pathname);
    if (costs) {
      const group = GROUPS[costs[1]!];
      if (group === undefined) throw new HttpError(404, `unknown report ${costs[1]} (summary, daily, tenants, models)`);
      return json(CostReport.toJSON(await report(url, group)));
    }
    if (url.pathname === '/api/budgets') return json(await reports.budgets());
    if (url.pathname === '/api/ledger/totals') return json(await ledger.totals());
    if (url.pathname === '/' || url.pathname === '/dashboard') {
      const [total, daily, tenants, models, budgets] = await Promise.all([
        report(url, CostGrouping.COST_GROUPING_UNSPECIFIED),
        report(url, CostGrouping.COST_GROUPING_DAY),
        report(url, CostGrouping.COST_GROUPING_TENANT),
        report(url, CostGrouping.COST_GROUPING_MODEL),
        reports.budgets(),
      ]);
      const tenantNames = new Map(budgets.map((b) => [b.tenantId, b.name]));
      return send(res, 200, 'text/html; charset=utf-8', renderDashboard({ total, daily, tenants, models, budgets, tenantNames }));
    }
    throw new HttpError(404, `no such page: ${url.pathname}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : err instanceof ServiceError && err.code === 3 ? 400 : 500;
      if (status === 500) logger.error('dashboard request failed', { error: err, path: req.url });
      const message = status === 500 ? 'internal error' : (err as Error).message;
      send(res, status, 'application/json', JSON.stringify({ error: { message } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
