import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { consumeDurable, CONSUMERS, publishCore, SUBJECTS, type Bus } from '@aigc/bus';
import { decodeUsageEvent } from '@aigc/metering';
import { BillingServiceService } from '@aigc/proto';
import { ServiceError, ServiceHost, Status, type ConfigOf, type Logger } from '@aigc/runtime';
import { Accounts } from './accounts.js';
import type { billingConfigSpec } from './config.js';
import { SCHEMA } from './schema.js';
import { UsageLedger } from './usage-ledger.js';

/** Configuration of the billing service. */
export type BillingConfig = ConfigOf<typeof billingConfigSpec>;

const notYet = (what: string) => async (): Promise<never> => {
  throw new ServiceError(Status.UNIMPLEMENTED, `${what} arrives with the [billing] issue`);
};

/**
 * Starts billing: opens the SQLite database (WAL), serves accounts and the ledger over gRPC,
 * and writes every usage event from JetStream into the ledger, acknowledging only after commit.
 */
export async function startBillingService(config: BillingConfig, deps: { logger: Logger; bus: Bus; metricsPort?: number | null }): Promise<ServiceHost> {
  if (config.database !== ':memory:') mkdirSync(dirname(config.database), { recursive: true });
  const db = new BetterSqlite3(config.database);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);
  const accounts = new Accounts(db);
  const ledger = new UsageLedger(db);

  const host = new ServiceHost({
    name: 'billing',
    host: config.grpcHost,
    port: config.grpcPort,
    metricsPort: deps.metricsPort === undefined ? config.metricsPort : deps.metricsPort,
    logger: deps.logger,
    shutdownGraceMs: config.shutdownGraceMs,
  });
  host.addService(BillingServiceService, {
    async authenticate(request) {
      return accounts.authenticate(request.secret);
    },
    async createTenant(request) {
      return accounts.createTenant(request.name, request.limits);
    },
    async createApiKey(request) {
      return accounts.createApiKey(request.tenantId, request.name, request.limits);
    },
    async revokeApiKey(request) {
      const key = accounts.revoke(request.id);
      publishCore(deps.bus, SUBJECTS.keysChanged.name, new TextEncoder().encode(JSON.stringify({ keyId: key.id, revoked: true })));
      return {};
    },
    async listUsage(request) {
      const rows = ledger.list({ requestId: request.requestId || undefined, tenantId: request.tenantId || undefined, limit: request.limit });
      return { entries: rows.map((r) => ({ eventId: r.event.eventId, event: r.event, costMicros: 0, recordedAtMs: r.recordedAtMs })) };
    },
    reserve: notYet('Reserve'),
    settle: notYet('Settle'),
    release: notYet('Release'),
  });

  const stopConsuming = new AbortController();
  const consuming = consumeDurable(deps.bus, {
    stream: CONSUMERS.billingLedger.stream,
    consumer: CONSUMERS.billingLedger.name,
    signal: stopConsuming.signal,
    logger: deps.logger.child({ component: 'ledger' }),
    handler: async (msg) => {
      const event = decodeUsageEvent(msg.data);
      if (!event.eventId) throw new Error(`usage event without event_id at stream seq ${msg.seq}`);
      const added = ledger.record(event, msg.seq);
      deps.logger.debug(added ? 'usage recorded' : 'duplicate usage ignored', { event_id: event.eventId, request_id: event.requestId });
    },
  });
  consuming.catch((err: unknown) => deps.logger.error('ledger consumer stopped', { error: err }));

  // Cleanups run last-registered first: stop consuming, close the database, then drain NATS.
  host.onShutdown(() => deps.bus.drain());
  host.onShutdown(() => {
    db.close();
  });
  host.onShutdown(async () => {
    stopConsuming.abort();
    await consuming.catch(() => undefined);
  });
  await host.start();
  return host;
}
