import { Limits } from '@aigc/proto';
import { invalidArgument } from '@aigc/runtime';

const UINT32 = 0xffff_ffff;

/** Checks limits from a request (0 means unlimited); every amount a non-negative integer in range. */
export function validateLimits(limits: Limits | undefined, field = 'limits'): Limits {
  const l = Limits.fromPartial(limits ?? {});
  const check = (name: string, v: number, max: number) => {
    if (!Number.isSafeInteger(v) || v < 0 || v > max) throw invalidArgument(`${field}.${name} must be an integer in [0, ${max}] (got ${v})`);
  };
  check('requests_per_minute', l.requestsPerMinute, UINT32);
  check('tokens_per_minute', l.tokensPerMinute, UINT32);
  check('concurrent_requests', l.concurrentRequests, UINT32);
  check('monthly_budget_micros', l.monthlyBudgetMicros, Number.MAX_SAFE_INTEGER);
  check('daily_budget_micros', l.dailyBudgetMicros, Number.MAX_SAFE_INTEGER);
  return l;
}

/** Limits as stored (proto3 JSON in a TEXT column). */
export function encodeLimits(limits: Limits): string {
  return JSON.stringify(Limits.toJSON(limits));
}

/** Limits read back from a TEXT column. */
export function decodeLimits(text: unknown): Limits {
  return Limits.fromJSON(JSON.parse(String(text)));
}

/** Length of a rate window. */
export const WINDOW_MS = 60_000;

/** Start of the per-minute window holding `now`. */
export function windowStart(now: number): number {
  return Math.floor(now / WINDOW_MS) * WINDOW_MS;
}

/** Start of the UTC day holding `now`. */
export function dayStart(now: number): number {
  return Math.floor(now / 86_400_000) * 86_400_000;
}

/** Start of the UTC calendar month holding `now`. */
export function monthStart(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** Start of the UTC calendar month after the one holding `now`. */
export function nextMonthStart(now: number): number {
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}
