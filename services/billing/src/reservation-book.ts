import { randomUUID } from 'node:crypto';
import { ReleaseReason, Usage, type BudgetStatus, type Limits, type ReserveRequest, type ReserveResponse, type ScopeStatus, type SettleResponse } from '@aigc/proto';
import { failedPrecondition, invalidArgument, notFound, ServiceError, Status } from '@aigc/runtime';
import { budgetLeft, checkScope, lockScopes, readScopes, roll, saveScope, type LimitedScope, type ScopeState } from './admission-state.js';
import { decodeLimits, WINDOW_MS } from './limits.js';
import type { PriceBook } from './price-book.js';
import { chargeFor, tokensOf, validateUsage } from './price-table.js';
import { num, str, type SqlDatabase, type SqlRow, type SqlTx } from './store/sql-database.js';

const UINT32_MAX = 0xffff_ffff;
/** The longest a hold may last before the sweeper settles or releases it. */
const MAX_TTL_MS = 24 * 3_600_000;

/** States of a reservation: open (`held`), or closed by Settle, Release or the expiry sweep. */
export type ReservationState = 'held' | 'settled' | 'released' | 'expired';

/** How a reservation is closed. */
interface Closing {
  state: Exclude<ReservationState, 'held'>;
  chargedMicros: number;
  unchargedMicros: number;
  actualTokens: number;
  reason: ReleaseReason;
}

/**
 * Admission: one Reserve per request checks the key, the tenant's and the key's rate limits,
 * concurrency and budgets, and holds the worst-case cost, all in one transaction on rows that
 * every replica shares; Settle charges the measured cost (never more than was held) and Release
 * gives the hold back. Because holds count against budgets the moment they are made, concurrent
 * and streaming requests cannot overshoot a budget: at most the holds that fit are granted.
 */
export class ReservationBook {
  constructor(
    private readonly db: SqlDatabase,
    private readonly prices: PriceBook,
    private readonly defaultTtlMs = 600_000,
  ) {}

  async reserve(request: ReserveRequest, now = Date.now()): Promise<ReserveResponse> {
    if (!request.apiKeyId) throw invalidArgument('api_key_id is required');
    if (!request.model) throw invalidArgument('model is required');
    const estimate = validateUsage(request.estimate, 'estimate');
    const ttlMs = request.ttlMs || this.defaultTtlMs;
    if (ttlMs > MAX_TTL_MS) throw invalidArgument(`ttl_ms must be at most ${MAX_TTL_MS} (got ${ttlMs})`);
    const table = await this.prices.at(now);
    const micros = chargeFor(table, request.model, estimate);
    if (micros === undefined) throw failedPrecondition(`price table version ${table.version} has no price for model ${request.model}`);
    const tokens = tokensOf(estimate);

    return this.db.transaction(async (tx) => {
      const key = await tx.one(
        'SELECT k.tenant_id, k.revoked, k.limits AS key_limits, t.limits AS tenant_limits FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = ?',
        [request.apiKeyId],
      );
      if (!key) throw new ServiceError(Status.UNAUTHENTICATED, `unknown API key ${request.apiKeyId}`);
      if (num(key.revoked)) throw new ServiceError(Status.UNAUTHENTICATED, `API key ${request.apiKeyId} is revoked`);
      const tenantId = str(key.tenant_id);
      const scopes = await lockScopes(tx, [`tenant:${tenantId}`, `key:${request.apiKeyId}`]);
      if (request.requestId) {
        const existing = await tx.one('SELECT * FROM reservations WHERE api_key_id = ? AND request_id = ?', [request.apiKeyId, request.requestId]);
        if (existing) return responseOf(existing, limitedScopes(scopes, tenantId, request.apiKeyId, key), now);
      }
      const limited = limitedScopes(scopes, tenantId, request.apiKeyId, key);
      for (const scope of limited) {
        roll(scope.state, now);
        checkScope(scope, { tokens, micros }, now);
      }
      for (const { state } of limited) {
        state.inFlight += 1;
        state.windowRequests += 1;
        state.windowTokens += tokens;
        state.heldMicros += micros;
        await saveScope(tx, state);
      }
      const row = {
        id: `res_${randomUUID().replaceAll('-', '')}`,
        tenant_id: tenantId,
        api_key_id: request.apiKeyId,
        request_id: request.requestId || null,
        model: request.model,
        modality: request.modality,
        estimate: JSON.stringify(Usage.toJSON(estimate)),
        est_tokens: tokens,
        reserved_micros: micros,
        price_version: table.version,
        state: 'held',
        window_start_ms: limited[0]!.state.windowStartMs,
        created_at_ms: now,
        expires_at_ms: now + ttlMs,
      };
      await tx.run(
        `INSERT INTO reservations (id, tenant_id, api_key_id, request_id, model, modality, estimate, est_tokens, reserved_micros, price_version, state,
           window_start_ms, created_at_ms, expires_at_ms) VALUES (${Object.keys(row).map(() => '?').join(', ')})`,
        Object.values(row),
      );
      return responseOf(row, limited, now);
    });
  }

  /** Charges the measured cost, capped at the hold; settling twice answers the first charge. */
  async settle(reservationId: string, usage: Usage | undefined, now = Date.now()): Promise<SettleResponse> {
    if (!reservationId) throw invalidArgument('reservation_id is required');
    const measured = validateUsage(usage, 'usage');
    return this.db.transaction(async (tx) => {
      const r = await lockReservation(tx, reservationId);
      const state = str(r.state) as ReservationState;
      if (state === 'settled') return { chargedMicros: num(r.charged_micros), unchargedMicros: num(r.uncharged_micros) };
      if (state !== 'held') throw failedPrecondition(`reservation ${reservationId} is already ${state}`);
      const table = await this.prices.version(num(r.price_version), tx);
      const cost = chargeFor(table, str(r.model), measured) ?? 0;
      const charged = Math.min(cost, num(r.reserved_micros));
      const closing: Closing = { state: 'settled', chargedMicros: charged, unchargedMicros: cost - charged, actualTokens: tokensOf(measured), reason: ReleaseReason.RELEASE_REASON_UNSPECIFIED };
      await close(tx, r, closing, now);
      return { chargedMicros: closing.chargedMicros, unchargedMicros: closing.unchargedMicros };
    });
  }

  /** Gives a hold back (the request failed or was cancelled); releasing twice is a no-op. */
  async release(reservationId: string, reason: ReleaseReason, now = Date.now()): Promise<void> {
    if (!reservationId) throw invalidArgument('reservation_id is required');
    await this.db.transaction(async (tx) => {
      const r = await lockReservation(tx, reservationId);
      const state = str(r.state) as ReservationState;
      if (state === 'released') return;
      if (state !== 'held') throw failedPrecondition(`reservation ${reservationId} is already ${state}`);
      await close(tx, r, { state: 'released', chargedMicros: 0, unchargedMicros: 0, actualTokens: 0, reason: reason || ReleaseReason.RELEASE_REASON_FAILED }, now);
    });
  }

  /**
   * Closes holds whose time ran out (the gateway died between Reserve and Settle): charged from
   * the ledger's events for the reservation when there are any (capped at the hold), else
   * released. Returns how many were closed. Replicas may sweep together: rows are claimed with
   * SKIP LOCKED on PostgreSQL and by the single writer on SQLite.
   */
  async expire(now = Date.now(), limit = 100): Promise<number> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.all(`SELECT * FROM reservations WHERE state = 'held' AND expires_at_ms < ? ORDER BY expires_at_ms LIMIT ?${tx.dialect.forUpdateSkipLocked}`, [now, limit]);
      for (const r of rows) {
        const used = await tx.one(
          'SELECT COUNT(*) AS n, COALESCE(SUM(cost_micros), 0) AS cost, COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens FROM usage_events WHERE reservation_id = ?',
          [str(r.id)],
        );
        const cost = num(used?.cost);
        const charged = Math.min(cost, num(r.reserved_micros));
        await close(tx, r, { state: 'expired', chargedMicros: charged, unchargedMicros: cost - charged, actualTokens: num(used?.tokens), reason: ReleaseReason.RELEASE_REASON_UNSPECIFIED }, now);
      }
      return rows.length;
    });
  }

  /** Where a tenant (and optionally one of its keys) stands right now. */
  async status(tenantId: string, apiKeyId: string, now = Date.now()): Promise<BudgetStatus> {
    if (!tenantId) throw invalidArgument('tenant_id is required');
    return this.db.read(async (tx) => {
      const tenant = await tx.one('SELECT limits FROM tenants WHERE id = ?', [tenantId]);
      if (!tenant) throw notFound(`tenant ${tenantId} not found`);
      const key = apiKeyId ? await tx.one('SELECT limits FROM api_keys WHERE id = ? AND tenant_id = ?', [apiKeyId, tenantId]) : undefined;
      if (apiKeyId && !key) throw notFound(`API key ${apiKeyId} of tenant ${tenantId} not found`);
      const scopes = await readScopes(tx, [`tenant:${tenantId}`, ...(apiKeyId ? [`key:${apiKeyId}`] : [])]);
      const view = (scope: string, limits: Limits): ScopeStatus | undefined => {
        const s = scopes.get(scope);
        return s && scopeStatus(roll({ ...s }, now), limits);
      };
      return { tenant: view(`tenant:${tenantId}`, decodeLimits(tenant.limits)), key: key ? view(`key:${apiKeyId}`, decodeLimits(key.limits)) : undefined, nowMs: now };
    });
  }
}

function limitedScopes(scopes: Map<string, ScopeState>, tenantId: string, keyId: string, row: SqlRow): LimitedScope[] {
  return [
    { state: scopes.get(`tenant:${tenantId}`)!, limits: decodeLimits(row.tenant_limits), kind: 'tenant' },
    { state: scopes.get(`key:${keyId}`)!, limits: decodeLimits(row.key_limits), kind: 'key' },
  ];
}

async function lockReservation(tx: SqlTx, id: string): Promise<SqlRow> {
  const r = await tx.one(`SELECT * FROM reservations WHERE id = ?${tx.dialect.forUpdate}`, [id]);
  if (!r) throw notFound(`reservation ${id} not found`);
  return r;
}

/** Closes a held reservation: frees its hold and concurrency slot, books the charge, returns unused tokens. */
async function close(tx: SqlTx, r: SqlRow, c: Closing, now: number): Promise<void> {
  const scopes = await lockScopes(tx, [`tenant:${str(r.tenant_id)}`, `key:${str(r.api_key_id)}`]);
  const reserved = num(r.reserved_micros);
  const unusedTokens = Math.max(0, num(r.est_tokens) - c.actualTokens);
  for (const s of scopes.values()) {
    roll(s, now);
    s.inFlight = Math.max(0, s.inFlight - 1);
    s.heldMicros = Math.max(0, s.heldMicros - reserved);
    s.daySpentMicros += c.chargedMicros;
    s.monthSpentMicros += c.chargedMicros;
    // Tokens held but not used go back to the window they were taken from, if it is still open.
    if (s.windowStartMs === num(r.window_start_ms)) s.windowTokens = Math.max(0, s.windowTokens - unusedTokens);
    await saveScope(tx, s);
  }
  await tx.run('UPDATE reservations SET state = ?, charged_micros = ?, uncharged_micros = ?, release_reason = ?, finished_at_ms = ? WHERE id = ?', [
    c.state,
    c.chargedMicros,
    c.unchargedMicros,
    c.reason,
    now,
    str(r.id),
  ]);
}

function responseOf(r: SqlRow, scopes: LimitedScope[], now: number): ReserveResponse {
  let requests = UINT32_MAX;
  let tokens = UINT32_MAX;
  let budget = Infinity;
  for (const scope of scopes) {
    const { state: s, limits: l } = scope;
    if (l.requestsPerMinute > 0) requests = Math.min(requests, Math.max(0, l.requestsPerMinute - s.windowRequests));
    if (l.tokensPerMinute > 0) tokens = Math.min(tokens, Math.max(0, l.tokensPerMinute - s.windowTokens));
    budget = Math.min(budget, budgetLeft(scope));
  }
  return {
    reservationId: str(r.id),
    reservedMicros: num(r.reserved_micros),
    remainingRequests: requests,
    remainingTokens: tokens,
    resetMs: Math.max(0, (scopes[0]?.state.windowStartMs ?? now) + WINDOW_MS - now),
    remainingBudgetMicros: Number.isFinite(budget) ? budget : Number.MAX_SAFE_INTEGER,
    tenantId: str(r.tenant_id),
  };
}

function scopeStatus(s: ScopeState, limits: Limits): ScopeStatus {
  return {
    scope: s.scope,
    limits,
    inFlight: s.inFlight,
    windowRequests: s.windowRequests,
    windowTokens: s.windowTokens,
    daySpentMicros: s.daySpentMicros,
    monthSpentMicros: s.monthSpentMicros,
    heldMicros: s.heldMicros,
  };
}
