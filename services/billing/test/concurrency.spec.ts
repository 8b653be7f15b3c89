import { status } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { Modality, PriceTable, type Limits, type Usage } from '@aigc/proto';
import { Accounts } from '../src/accounts.js';
import { PriceBook } from '../src/price-book.js';
import { ReservationBook } from '../src/reservation-book.js';
import { STORES, storeFactory } from './stores.js';

const usage = (completion: number): Usage => ({ promptTokens: 0, completionTokens: completion, images: 0, steps: 0, pixels: 0, audioSeconds: 0, characters: 0, computeMs: 0 });
const tick = () => new Promise((r) => setTimeout(r, Math.random() * 5));

/**
 * LiteLLM's users see budgets overshot when many requests, streaming ones above all, are checked
 * against spend that is only counted once they finish. Here 200 requests race for a budget that
 * fits 50 worst-case holds, spread over two billing replicas where the store allows it.
 */
describe.each(STORES)('200 concurrent reservations against a budget of 50 on %s', (kind) => {
  const stores = storeFactory(kind);
  afterAll(() => stores.close());

  it('grants at most the 50 holds that fit, and settled spend stays within the budget', async () => {
    const location = await stores.location();
    const first = await stores.open(location);
    // PostgreSQL: a second replica with its own connection pool. SQLite: one writer per file, one connection.
    const second = kind === 'postgres' ? await stores.open(location) : first;
    const prices = new PriceBook(first, 0);
    await prices.seed();
    await prices.publish(PriceTable.fromPartial({ currency: 'USD', effectiveFromMs: 1, models: [{ model: '*', unitMicros: { completion_token: 1 } }] }));
    const accounts = new Accounts(first);
    const COST = 1000; // 1000 completion tokens at 1 micro
    const budget = 50 * COST;
    const tenant = await accounts.createTenant('racer', { monthlyBudgetMicros: budget } as Limits);
    const keys = await Promise.all([1, 2, 3, 4].map((i) => accounts.createApiKey(tenant.id, `k${i}`, undefined)));
    const replicas = [new ReservationBook(first, prices), new ReservationBook(second, new PriceBook(second, 0))];

    const outcomes = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const book = replicas[i % 2]!;
        const streaming = i % 3 === 0;
        try {
          const r = await book.reserve({ apiKeyId: keys[i % 4]!.key.id, requestId: `req-${i}`, model: 'lm', modality: Modality.MODALITY_TEXT, estimate: usage(1000), ttlMs: 0 });
          if (streaming) for (let chunk = 0; chunk < 10; chunk++) await tick(); // tokens stream out while the hold stands
          // Some requests run past their estimate; the hold caps the charge.
          const settled = await book.settle(r.reservationId, usage(i % 7 === 0 ? 1500 : 1000));
          return { ok: true as const, charged: settled.chargedMicros };
        } catch (err) {
          expect(err).toMatchObject({ code: status.RESOURCE_EXHAUSTED, metadata: { 'aigc-limit': 'monthly_budget' } });
          return { ok: false as const, charged: 0 };
        }
      }),
    );
    const granted = outcomes.filter((o) => o.ok);
    expect(granted.length).toBeLessThanOrEqual(50);
    // Every granted request used its whole hold, so exactly the 50 that fit were granted.
    expect(granted.length).toBe(50);
    const spent = outcomes.reduce((a, o) => a + o.charged, 0);
    expect(spent).toBeLessThanOrEqual(budget);
    const status_ = await replicas[0]!.status(tenant.id, '');
    expect(status_.tenant).toMatchObject({ monthSpentMicros: spent, heldMicros: 0, inFlight: 0 });
  });
});
