import type { Limits } from '@aigc/proto';
import { resourceExhausted, ServiceError, Status } from '@aigc/runtime';
import { dayStart, monthStart, nextMonthStart, WINDOW_MS, windowStart } from './limits.js';
import { num, type SqlRow, type SqlTx } from './store/sql-database.js';

/** Where one scope (a tenant or a key) stands: the row of `admission_state`, as numbers. */
export interface ScopeState {
  scope: string;
  inFlight: number;
  windowStartMs: number;
  windowRequests: number;
  windowTokens: number;
  dayStartMs: number;
  daySpentMicros: number;
  monthStartMs: number;
  monthSpentMicros: number;
  heldMicros: number;
}

/** A scope's state with the limits that apply to it. */
export interface LimitedScope {
  state: ScopeState;
  limits: Limits;
  /** `tenant` or `key`, for messages. */
  kind: 'tenant' | 'key';
}

/** What one reservation asks of each scope. */
export interface Demand {
  tokens: number;
  micros: number;
}

const COLUMNS = 'scope, in_flight, window_start_ms, window_requests, window_tokens, day_start_ms, day_spent_micros, month_start_ms, month_spent_micros, held_micros';

/**
 * Locks and reads the admission rows of `scopes` in one fixed order (so two transactions never
 * wait on each other in a cycle). Missing rows are an error when `required`: they are created with their tenant or key.
 */
export async function lockScopes(tx: SqlTx, scopes: string[], required = true): Promise<Map<string, ScopeState>> {
  const ordered = [...scopes].sort();
  const rows = await tx.all(`SELECT ${COLUMNS} FROM admission_state WHERE scope IN (${ordered.map(() => '?').join(', ')}) ORDER BY scope${tx.dialect.forUpdate}`, ordered);
  const out = new Map<string, ScopeState>();
  for (const row of rows) out.set(String(row.scope), toState(row));
  if (required) for (const scope of scopes) if (!out.has(scope)) throw new ServiceError(Status.INTERNAL, `admission state of ${scope} is missing`);
  return out;
}

/** Writes a scope's state back. */
export async function saveScope(tx: SqlTx, s: ScopeState): Promise<void> {
  await tx.run(
    `UPDATE admission_state SET in_flight = ?, window_start_ms = ?, window_requests = ?, window_tokens = ?, day_start_ms = ?,
       day_spent_micros = ?, month_start_ms = ?, month_spent_micros = ?, held_micros = ? WHERE scope = ?`,
    [s.inFlight, s.windowStartMs, s.windowRequests, s.windowTokens, s.dayStartMs, s.daySpentMicros, s.monthStartMs, s.monthSpentMicros, s.heldMicros, s.scope],
  );
}

/**
 * Moves a scope into the windows holding `now`: a new minute starts with no requests or tokens, a
 * new day or month with nothing spent. Holds and in-flight counts carry over (they are open work).
 */
export function roll(s: ScopeState, now: number): ScopeState {
  const w = windowStart(now);
  if (s.windowStartMs !== w) Object.assign(s, { windowStartMs: w, windowRequests: 0, windowTokens: 0 });
  const d = dayStart(now);
  if (s.dayStartMs !== d) Object.assign(s, { dayStartMs: d, daySpentMicros: 0 });
  const m = monthStart(now);
  if (s.monthStartMs !== m) Object.assign(s, { monthStartMs: m, monthSpentMicros: 0 });
  return s;
}

/**
 * Throws RESOURCE_EXHAUSTED (with a retry hint and the limit's name in `aigc-limit` metadata) when
 * admitting `demand` would pass any limit of the scope. Budgets count spend plus open holds.
 */
export function checkScope({ state: s, limits: l, kind }: LimitedScope, demand: Demand, now: number): void {
  const refuse = (limit: string, message: string, retryAfterMs: number) => {
    const err = resourceExhausted(`${kind} ${message}`, retryAfterMs);
    err.metadata['aigc-limit'] = limit;
    err.metadata['aigc-scope'] = kind;
    throw err;
  };
  const windowLeft = s.windowStartMs + WINDOW_MS - now;
  if (l.concurrentRequests > 0 && s.inFlight + 1 > l.concurrentRequests) {
    refuse('concurrent_requests', `has ${s.inFlight} of ${l.concurrentRequests} concurrent requests in flight`, 250);
  }
  if (l.requestsPerMinute > 0 && s.windowRequests + 1 > l.requestsPerMinute) {
    refuse('requests_per_minute', `reached ${l.requestsPerMinute} requests per minute`, windowLeft);
  }
  if (l.tokensPerMinute > 0 && s.windowTokens + demand.tokens > l.tokensPerMinute) {
    refuse('tokens_per_minute', `would pass ${l.tokensPerMinute} tokens per minute (${s.windowTokens} used, ${demand.tokens} asked)`, windowLeft);
  }
  if (l.dailyBudgetMicros > 0 && s.daySpentMicros + s.heldMicros + demand.micros > l.dailyBudgetMicros) {
    refuse('daily_budget', `daily budget of ${l.dailyBudgetMicros} micros would be passed (${s.daySpentMicros} spent, ${s.heldMicros} held, ${demand.micros} asked)`, s.dayStartMs + 86_400_000 - now);
  }
  if (l.monthlyBudgetMicros > 0 && s.monthSpentMicros + s.heldMicros + demand.micros > l.monthlyBudgetMicros) {
    refuse('monthly_budget', `monthly budget of ${l.monthlyBudgetMicros} micros would be passed (${s.monthSpentMicros} spent, ${s.heldMicros} held, ${demand.micros} asked)`, nextMonthStart(now) - now);
  }
}

/** Budget left in the tightest period of a scope (Infinity when it has no budget). */
export function budgetLeft({ state: s, limits: l }: LimitedScope): number {
  let left = Infinity;
  if (l.dailyBudgetMicros > 0) left = Math.min(left, l.dailyBudgetMicros - s.daySpentMicros - s.heldMicros);
  if (l.monthlyBudgetMicros > 0) left = Math.min(left, l.monthlyBudgetMicros - s.monthSpentMicros - s.heldMicros);
  return Math.max(0, left);
}

function toState(row: SqlRow): ScopeState {
  return {
    scope: String(row.scope),
    inFlight: num(row.in_flight),
    windowStartMs: num(row.window_start_ms),
    windowRequests: num(row.window_requests),
    windowTokens: num(row.window_tokens),
    dayStartMs: num(row.day_start_ms),
    daySpentMicros: num(row.day_spent_micros),
    monthStartMs: num(row.month_start_ms),
    monthSpentMicros: num(row.month_spent_micros),
    heldMicros: num(row.held_micros),
  };
}

/** Reads scopes without locking (status pages). */
export async function readScopes(tx: SqlTx, scopes: string[]): Promise<Map<string, ScopeState>> {
  const rows = await tx.all(`SELECT ${COLUMNS} FROM admission_state WHERE scope IN (${scopes.map(() => '?').join(', ')})`, scopes);
  return new Map(rows.map((r) => [String(r.scope), toState(r)]));
}
