/** The billing database, created idempotently at start. Amounts are integer micro-units. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS tenants (
  id            TEXT PRIMARY KEY,
  name          TEXT NOT NULL,
  limits        TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
  id            TEXT PRIMARY KEY,
  tenant_id     TEXT NOT NULL REFERENCES tenants(id),
  name          TEXT NOT NULL,
  prefix        TEXT NOT NULL,
  secret_hash   TEXT NOT NULL UNIQUE,
  limits        TEXT NOT NULL,
  revoked       INTEGER NOT NULL DEFAULT 0,
  created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS usage_events (
  event_id          TEXT PRIMARY KEY,
  request_id        TEXT NOT NULL,
  tenant_id         TEXT NOT NULL,
  api_key_id        TEXT NOT NULL,
  service           TEXT NOT NULL,
  model             TEXT NOT NULL,
  modality          INTEGER NOT NULL,
  prompt_tokens     INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  images            INTEGER NOT NULL,
  steps             INTEGER NOT NULL,
  pixels            INTEGER NOT NULL,
  audio_seconds     REAL NOT NULL,
  characters        INTEGER NOT NULL,
  compute_ms        REAL NOT NULL,
  reservation_id    TEXT NOT NULL,
  occurred_at_ms    INTEGER NOT NULL,
  recorded_at_ms    INTEGER NOT NULL,
  stream_seq        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_events_tenant ON usage_events (tenant_id, occurred_at_ms);
CREATE INDEX IF NOT EXISTS usage_events_request ON usage_events (request_id);
`;
