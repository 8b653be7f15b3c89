import { commonConfig, env } from '@aigc/runtime';

/** Environment of the billing service. */
export const billingConfigSpec = {
  ...commonConfig({ grpcPort: 50057, metricsPort: 9467 }),
  database: env.string('BILLING_DB', 'SQLite file of accounts and the usage ledger (":memory:" for tests)', 'data/billing.sqlite'),
};
