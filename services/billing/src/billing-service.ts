import { consumeDurable, CONSUMERS, type Bus } from '@aigc/bus';
import { decodeUsageEvent } from '@aigc/metering';
import { BillingServiceService, KeyChangeKind } from '@aigc/proto';
import { ServiceError, ServiceHost, Status, type Logger } from '@aigc/runtime';
import { Accounts } from './accounts.js';
import { storeLocation, type BillingConfig } from './config.js';
import { CostReports } from './cost-report.js';
import { startDashboardServer } from './dashboard/dashboard-server.js';
import { publishKeyChange } from '@aigc/accounts';
import { PriceBook } from './price-book.js';
import { ReservationBook } from './reservation-book.js';
import { openStore } from './store/open-store.js';
import { UsageLedger } from './usage-ledger.js';

export type { BillingConfig } from './config.js';

/** What tests (and main) pass besides the config. */
export interface BillingDeps {
  logger: Logger;
  bus: Bus;
  /** Overrides the metrics port (`null`: none, for in-process tests). */
  metricsPort?: number | null;
  /** Overrides the dashboard port (`null`: no dashboard). */
  httpPort?: number | null;
}

/** A started billing service: the gRPC host plus the dashboard's bound port. */
export interface BillingService {
  host: ServiceHost;
  /** Bound port of the dashboard, when served. */
  httpPort: number | undefined;
}

/**
 * Starts billing: opens the store (SQLite or PostgreSQL), serves accounts, admission, prices and
 * reports over gRPC and the cost dashboard over HTTP, writes every usage event from JetStream into
 * the ledger (acknowledging only after commit), and closes expired holds in the background.
 */
export async function startBillingService(config: BillingConfig, deps: BillingDeps): Promise<ServiceHost> {
  return (await startBilling(config, deps)).host;
}

/** Like {@link startBillingService}, also reporting the dashboard's port. */
export async function startBilling(config: BillingConfig, deps: BillingDeps): Promise<BillingService> {
  const db = await openStore(storeLocation(config));
  const prices = new PriceBook(db);
  await prices.seed();
  const accounts = new Accounts(db);
  const book = new ReservationBook(db, prices, config.reservationTtlMs);
  const ledger = new UsageLedger(db, prices);
  const reports = new CostReports(db, prices);
  const logger = deps.logger;

  const host = ServiceHost.fromConfig('billing', config, deps);
  host.addService(BillingServiceService, {
    authenticate: (r) => accounts.authenticate(r.secret),
    reserve: (r) => book.reserve(r),
    settle: (r) => book.settle(r.reservationId, r.usage),
    async release(r) {
      await book.release(r.reservationId, r.reason);
      return {};
    },
    createTenant: (r) => accounts.createTenant(r.name, r.limits),
    listTenants: async (r) => ({ tenants: await accounts.listTenants(r.limit) }),
    async updateTenant(r) {
      const tenant = await accounts.updateTenant(r.id, { name: r.name, limits: r.limits });
      publishKeyChange(deps.bus, { tenantId: tenant.id, kind: KeyChangeKind.KEY_CHANGE_KIND_TENANT });
      return tenant;
    },
    createApiKey: (r) => accounts.createApiKey(r.tenantId, r.name, r.limits),
    listApiKeys: async (r) => ({ keys: await accounts.listApiKeys(r.tenantId, r.includeRevoked) }),
    async updateApiKey(r) {
      const key = await accounts.updateApiKey(r.id, { name: r.name, limits: r.limits });
      publishKeyChange(deps.bus, { keyId: key.id, tenantId: key.tenantId, revoked: key.revoked, kind: KeyChangeKind.KEY_CHANGE_KIND_LIMITS });
      return key;
    },
    async revokeApiKey(r) {
      const key = await accounts.revoke(r.id);
      publishKeyChange(deps.bus, { keyId: key.id, tenantId: key.tenantId, revoked: true, kind: KeyChangeKind.KEY_CHANGE_KIND_REVOKED });
      return {};
    },
    getBudgetStatus: (r) => book.status(r.tenantId, r.apiKeyId),
    publishPriceTable: (r) => prices.publish(r.table),
    listPriceTables: async () => ({ tables: await prices.list() }),
    getCostReport: (r) => reports.report(r),
    listUsage: async (r) => ({ entries: await ledger.list({ requestId: r.requestId || undefined, tenantId: r.tenantId || undefined, limit: r.limit }) }),
  });

  const stopConsuming = new AbortController();
  const ledgerLogger = logger.child({ component: 'ledger' });
  const consuming = consumeDurable(deps.bus, {
    stream: CONSUMERS.billingLedger.stream,
    consumer: CONSUMERS.billingLedger.name,
    signal: stopConsuming.signal,
    logger: ledgerLogger,
    batch: 256,
    handler: async (msg) => {
      const event = decodeUsageEvent(msg.data);
      try {
        const added = await ledger.record(event, msg.seq);
        ledgerLogger.debug(added ? 'usage recorded' : 'duplicate usage ignored', { event_id: event.eventId, request_id: event.requestId });
      } catch (err) {
        // A malformed event will never become valid: acknowledge it (logged) rather than redeliver it forever.
        if (err instanceof ServiceError && err.code === Status.INVALID_ARGUMENT) {
          ledgerLogger.error('malformed usage event dropped', { seq: msg.seq, event_id: event.eventId, reason: err.message });
          return;
        }
        throw err;
      }
    },
  });
  consuming.catch((err: unknown) => logger.error('ledger consumer stopped', { error: err }));

  const sweeper = setInterval(() => {
    book.expire().then(
      (n) => n > 0 && logger.info('expired holds closed', { count: n }),
      (err: unknown) => logger.warn('expiry sweep failed', { error: err }),
    );
  }, config.sweepIntervalMs);
  sweeper.unref();

  const httpPort = deps.httpPort === undefined ? config.httpPort : deps.httpPort;
  const dashboard = httpPort === null ? undefined : await startDashboardServer({ reports, ledger, host: config.grpcHost, port: httpPort, logger });

  // Cleanups run last-registered first: stop the sweeper and dashboard, stop consuming, close the database, drain NATS.
  host.onShutdown(() => deps.bus.drain());
  host.onShutdown(() => db.close());
  host.onShutdown(async () => {
    stopConsuming.abort();
    await consuming.catch(() => undefined);
  });
  host.onShutdown(async () => {
    clearInterval(sweeper);
    await dashboard?.close();
  });
  await host.start();
  logger.info('billing ready', { store: db.dialect.name, dashboard_port: dashboard?.port });
  return { host, httpPort: dashboard?.port };
}
