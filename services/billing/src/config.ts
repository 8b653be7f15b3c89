import { commonConfig, env, type ConfigOf } from '@aigc/runtime';
import type { StoreLocation } from './store/open-store.js';

/** Environment of the billing service. */
export const billingConfigSpec = {
  ...commonConfig({ grpcPort: 50057, metricsPort: 9467 }),
  database: env.string('BILLING_DB', 'SQLite file of accounts, reservations, prices and the usage ledger (":memory:" for tests); unused when BILLING_DATABASE_URL is set', 'data/billing.sqlite'),
  databaseUrl: env.url('BILLING_DATABASE_URL', 'PostgreSQL URL (postgres://user@host:port/db); when set, billing uses PostgreSQL instead of SQLite', '', ['postgres', 'postgresql']),
  databasePoolSize: env.int('BILLING_DATABASE_POOL', 'PostgreSQL connections per billing process', 16, { min: 1, max: 500 }),
  httpPort: env.port('BILLING_HTTP_PORT', 'port of the cost dashboard (GET /dashboard) and its JSON API (GET /api/costs/...)', 8090),
  reservationTtlMs: env.int('BILLING_RESERVATION_TTL_MS', 'how long a hold lasts when Reserve sets no ttl_ms; then it is settled from the ledger or released', 600_000, { min: 1000, max: 86_400_000 }),
  sweepIntervalMs: env.int('BILLING_SWEEP_INTERVAL_MS', 'how often expired holds are closed', 5000, { min: 100, max: 3_600_000 }),
};

/** Configuration of the billing service. */
export type BillingConfig = ConfigOf<typeof billingConfigSpec>;

/** The one store the configuration names: PostgreSQL when BILLING_DATABASE_URL is set, else SQLite. */
export function storeLocation(config: Pick<BillingConfig, 'database' | 'databaseUrl' | 'databasePoolSize'>): StoreLocation {
  if (config.databaseUrl) {
    return { postgres: config.databaseUrl, maxConnections: config.databasePoolSize };
  }
  return { sqlite: config.database };
}
