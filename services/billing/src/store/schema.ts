import type { SqlDialect } from './sql-database.js';

/** Column types per dialect: SQLite's INTEGER is 64-bit; PostgreSQL needs BIGINT for ms and micros. */
function types(dialect: SqlDialect['name']) {
  return dialect === 'sqlite' ? { int: 'INTEGER', real: 'REAL' } : { int: 'BIGINT', real: 'DOUBLE PRECISION' };
}

/**
 * The billing schema, created idempotently at start. Amounts are integer micro-units of the
 * currency; times are milliseconds since the Unix epoch (UTC).
 *
 * - `admission_state`: one row per tenant (`tenant:<id>`) and per key (`key:<id>`): in-flight
 *   count, the current per-minute window, the current day's and month's spend and the worst-case
 *   cost held by open reservations. Reserve, Settle and Release lock and update these rows, so
 *   limits hold across any number of billing and gateway replicas and across restarts.
 * - `reservations`: every hold, unique per (key, request id) so a retried Reserve holds once.
 * - `usage_events`: the ledger, unique per event id, priced when recorded.
 * - `price_tables`: versions of the price table and cost model, never changed once written.
 */
export function schema(dialect: SqlDialect['name']): string {
  const { int, real } = types(dialect);
  return `
CREATE TABLE IF NOT EXISTS tenants (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  limits        TEXT NOT NULL,
  created_at_ms ${int} NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
  id            TEXT PRIMARY KEY,
  tenant_id     TEXT NOT NULL REFERENCES tenants(id),
  name          TEXT NOT NULL,
  prefix        TEXT NOT NULL,
  secret_hash   TEXT NOT NULL UNIQUE,
  limits        TEXT NOT NULL,
  revoked       INTEGER NOT NULL DEFAULT 0,
  created_at_ms ${int} NOT NULL
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant_id);
CREATE TABLE IF NOT EXISTS usage_events (
  event_id          TEXT PRIMARY KEY,
  request_id        TEXT NOT NULL,
  tenant_id         TEXT NOT NULL,
  api_key_id        TEXT NOT NULL,
  service           TEXT NOT NULL,
  model             TEXT NOT NULL,
  modality          INTEGER NOT NULL,
  prompt_tokens     ${int} NOT NULL,
  completion_tokens ${int} NOT NULL,
  images            ${int} NOT NULL,
  steps             ${int} NOT NULL,
  pixels            ${int} NOT NULL,
  audio_seconds     ${real} NOT NULL,
  characters        ${int} NOT NULL,
  compute_ms        ${real} NOT NULL,
  reservation_id    TEXT NOT NULL,
  occurred_at_ms    ${int} NOT NULL,
  recorded_at_ms    ${int} NOT NULL,
  stream_seq        ${int} NOT NULL,
  cost_micros           ${int} NOT NULL DEFAULT 0,
  infrastructure_micros ${int} NOT NULL DEFAULT 0,
  training_micros       ${int} NOT NULL DEFAULT 0,
  price_version         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS usage_events_tenant ON usage_events (tenant_id, occurred_at_ms);
CREATE INDEX IF NOT EXISTS usage_events_request ON usage_events (request_id);
CREATE INDEX IF NOT EXISTS usage_events_time ON usage_events (occurred_at_ms);
CREATE INDEX IF NOT EXISTS usage_events_reservation ON usage_events (reservation_id);
CREATE TABLE IF NOT EXISTS admission_state (
  scope              TEXT PRIMARY KEY,
  in_flight          ${int} NOT NULL DEFAULT 0,
  window_start_ms    ${int} NOT NULL DEFAULT 0,
  window_requests    ${int} NOT NULL DEFAULT 0,
  window_tokens      ${int} NOT NULL DEFAULT 0,
  day_start_ms       ${int} NOT NULL DEFAULT 0,
  day_spent_micros   ${int} NOT NULL DEFAULT 0,
  month_start_ms     ${int} NOT NULL DEFAULT 0,
  month_spent_micros ${int} NOT NULL DEFAULT 0,
  held_micros        ${int} NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS reservations (
  id              TEXT PRIMARY KEY,
  tenant_id       TEXT NOT NULL,
  api_key_id      TEXT NOT NULL,
  request_id      TEXT,
  model           TEXT NOT NULL,
  modality        INTEGER NOT NULL,
  estimate        TEXT NOT NULL,
  est_tokens      ${int} NOT NULL,
  reserved_micros ${int} NOT NULL,
  price_version   INTEGER NOT NULL,
  state           TEXT NOT NULL,
  charged_micros  ${int} NOT NULL DEFAULT 0,
  uncharged_micros ${int} NOT NULL DEFAULT 0,
  release_reason  INTEGER NOT NULL DEFAULT 0,
  window_start_ms ${int} NOT NULL,
  created_at_ms   ${int} NOT NULL,
  expires_at_ms   ${int} NOT NULL,
  finished_at_ms  ${int} NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS reservations_request ON reservations (api_key_id, request_id);
CREATE INDEX IF NOT EXISTS reservations_open ON reservations (state, expires_at_ms);
CREATE INDEX IF NOT EXISTS reservations_time ON reservations (created_at_ms);
CREATE TABLE IF NOT EXISTS price_tables (
  version           INTEGER PRIMARY KEY,
  effective_from_ms ${int} NOT NULL,
  document          TEXT NOT NULL,
  created_at_ms     ${int} NOT NULL
);
`;
}

/** Columns added to `usage_events` since the first release (SQLite files written before pricing). */
export const LEDGER_PRICING_COLUMNS = [
  ['cost_micros', 'INTEGER NOT NULL DEFAULT 0'],
  ['infrastructure_micros', 'INTEGER NOT NULL DEFAULT 0'],
  ['training_micros', 'INTEGER NOT NULL DEFAULT 0'],
  ['price_version', 'INTEGER NOT NULL DEFAULT 0'],
] as const;

/** Gives every tenant and key created before admission existed its admission row (`WHERE true`: SQLite's upsert-after-SELECT rule). */
export const BACKFILL_ADMISSION = `
INSERT INTO admission_state (scope) SELECT 'tenant:' || id FROM tenants WHERE true ON CONFLICT DO NOTHING;
INSERT INTO admission_state (scope) SELECT 'key:' || id FROM api_keys WHERE true ON CONFLICT DO NOTHING;
`;
