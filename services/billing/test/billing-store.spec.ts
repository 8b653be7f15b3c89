import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CostGrouping, Modality, PriceTable, ReleaseReason, UsageEvent, type Limits, type Usage } from '@aigc/proto';
import { Accounts, hashSecret } from '../src/accounts.js';
import { CostReports } from '../src/cost-report.js';
import { PriceBook } from '../src/price-book.js';
import { ReservationBook } from '../src/reservation-book.js';
import type { SqlDatabase } from '../src/store/sql-database.js';
import { UsageLedger } from '../src/usage-ledger.js';
import { STORES, storeFactory } from './stores.js';

const T0 = Date.UTC(2025, 4, 12, 10, 0, 0); // a Monday, 10:00 UTC
const DAY = 86_400_000;
const code = (c: number) => expect.objectContaining({ code: c });

/** A price table with round numbers: 1 micro per prompt token, 2 per completion token. */
const TABLE = PriceTable.fromPartial({
  currency: 'USD',
  effectiveFromMs: T0 - 10 * DAY,
  models: [
    { model: 'm', unitMicros: { prompt_token: 1, completion_token: 2 }, training: { dataCollectionMicros: 600, labellingMicros: 300, trainingComputeMicros: 100, amortizeOverRequests: 100 } },
    { model: '*', unitMicros: { prompt_token: 3, completion_token: 3 } },
  ],
  infrastructure: { acceleratorSecondMicros: 1000, storageMicrosPerDay: 40, networkMicrosPerRequest: 1 },
  operations: { peopleMicrosPerDay: 80 },
});
const tokens = (prompt: number, completion: number): Usage => ({ promptTokens: prompt, completionTokens: completion, images: 0, steps: 0, pixels: 0, audioSeconds: 0, characters: 0, computeMs: 0 });

describe.each(STORES)('billing store on %s', (kind) => {
  const stores = storeFactory(kind);
  let db: SqlDatabase;
  let accounts: Accounts;
  let prices: PriceBook;
  let book: ReservationBook;
  let ledger: UsageLedger;

  afterAll(() => stores.close());
  beforeEach(async () => {
    db = await stores.open();
    prices = new PriceBook(db, 0);
    await prices.seed(T0 - 20 * DAY);
    await prices.publish(TABLE, T0 - 20 * DAY);
    accounts = new Accounts(db);
    book = new ReservationBook(db, prices, 60_000);
    ledger = new UsageLedger(db, prices);
  });

  const keyWith = async (tenantLimits: Partial<Limits>, keyLimits: Partial<Limits> = {}) => {
    const tenant = await accounts.createTenant('acme', tenantLimits as Limits);
    const { key, secret } = await accounts.createApiKey(tenant.id, 'ci', keyLimits as Limits);
    return { tenant, key, secret };
  };
  const reserve = (apiKeyId: string, estimate: Usage, now = T0, requestId = '') =>
    book.reserve({ apiKeyId, requestId, model: 'm', modality: Modality.MODALITY_TEXT, estimate, ttlMs: 0 }, now);

  describe('accounts', () => {
    it('stores only the hash of a key, shows the secret once, and authenticates it', async () => {
      const { tenant, key, secret } = await keyWith({});
      expect(secret).toMatch(/^sk-aigc-[0-9a-f]{48}$/);
      const stored = JSON.stringify(await db.read((tx) => tx.all('SELECT * FROM api_keys')));
      expect(stored).not.toContain(secret);
      expect(stored).toContain(hashSecret(secret));
      expect(await accounts.authenticate(secret)).toMatchObject({ key: { id: key.id, tenantId: tenant.id }, tenant: { name: 'acme' } });
      expect(await accounts.listApiKeys(tenant.id, false)).toEqual([expect.objectContaining({ id: key.id, prefix: secret.slice(0, 14) })]);
    });

    it('refuses unknown and revoked keys, lists revoked keys only when asked', async () => {
      const { tenant, key, secret } = await keyWith({});
      await expect(accounts.authenticate('sk-aigc-nope')).rejects.toThrow(code(status.UNAUTHENTICATED));
      await accounts.revoke(key.id);
      await expect(accounts.authenticate(secret)).rejects.toThrow(code(status.UNAUTHENTICATED));
      await expect(reserve(key.id, tokens(1, 1))).rejects.toThrow(code(status.UNAUTHENTICATED));
      expect(await accounts.listApiKeys(tenant.id, false)).toEqual([]);
      expect(await accounts.listApiKeys(tenant.id, true)).toEqual([expect.objectContaining({ id: key.id, revoked: true })]);
      await expect(accounts.revoke('key_missing')).rejects.toThrow(code(status.NOT_FOUND));
    });

    it('changes names and limits of tenants and keys', async () => {
      const { tenant, key } = await keyWith({ requestsPerMinute: 5 });
      expect(await accounts.updateTenant(tenant.id, { limits: { requestsPerMinute: 9 } as Limits })).toMatchObject({ name: 'acme', limits: { requestsPerMinute: 9 } });
      expect(await accounts.updateApiKey(key.id, { name: 'prod' })).toMatchObject({ name: 'prod', limits: { requestsPerMinute: 0 } });
      expect((await accounts.listTenants()).map((t) => t.limits?.requestsPerMinute)).toEqual([9]);
    });

    it('refuses unknown tenants and bad limits with clear errors, writing nothing', async () => {
      await expect(accounts.createApiKey('ten_missing', 'x', undefined)).rejects.toThrow(/tenant ten_missing not found/);
      await expect(accounts.updateTenant('ten_missing', { name: 'x' })).rejects.toThrow(code(status.NOT_FOUND));
      await expect(accounts.createTenant('acme', { requestsPerMinute: -1 } as Limits)).rejects.toThrow(/limits.requests_per_minute must be an integer/);
      await expect(accounts.createTenant(' ', undefined)).rejects.toThrow(code(status.INVALID_ARGUMENT));
      const counts = await db.read(async (tx) => [await tx.one('SELECT COUNT(*) AS n FROM tenants'), await tx.one('SELECT COUNT(*) AS n FROM api_keys'), await tx.one('SELECT COUNT(*) AS n FROM admission_state')]);
      expect(counts.map((c) => Number(c!.n))).toEqual([0, 0, 0]);
    });
  });

  describe('admission', () => {
    it('holds the worst-case cost, charges the measured cost on settle, and settles once', async () => {
      const { tenant, key } = await keyWith({ monthlyBudgetMicros: 1000 });
      const r = await reserve(key.id, tokens(10, 100)); // 10*1 + 100*2 = 210
      expect(r).toMatchObject({ reservedMicros: 210, tenantId: tenant.id, remainingBudgetMicros: 790 });
      expect((await book.status(tenant.id, key.id, T0)).tenant).toMatchObject({ heldMicros: 210, inFlight: 1, windowRequests: 1, windowTokens: 110 });
      expect(await book.settle(r.reservationId, tokens(10, 40), T0 + 10)).toEqual({ chargedMicros: 90, unchargedMicros: 0 });
      expect(await book.settle(r.reservationId, tokens(10, 99), T0 + 20)).toEqual({ chargedMicros: 90, unchargedMicros: 0 });
      const after = await book.status(tenant.id, key.id, T0 + 30);
      expect(after.tenant).toMatchObject({ heldMicros: 0, inFlight: 0, monthSpentMicros: 90, daySpentMicros: 90, windowTokens: 50 });
      expect(after.key).toMatchObject({ monthSpentMicros: 90 });
    });

    it('never charges more than the hold', async () => {
      const { key } = await keyWith({});
      const r = await reserve(key.id, tokens(1, 1)); // 3
      expect(await book.settle(r.reservationId, tokens(1, 10), T0)).toEqual({ chargedMicros: 3, unchargedMicros: 18 });
    });

    it('release gives the hold back; a released reservation cannot be settled', async () => {
      const { tenant, key } = await keyWith({ monthlyBudgetMicros: 500 });
      const r = await reserve(key.id, tokens(0, 200)); // 400
      await expect(reserve(key.id, tokens(0, 200))).rejects.toThrow(code(status.RESOURCE_EXHAUSTED));
      await book.release(r.reservationId, ReleaseReason.RELEASE_REASON_CANCELLED, T0);
      await book.release(r.reservationId, ReleaseReason.RELEASE_REASON_CANCELLED, T0);
      await expect(book.settle(r.reservationId, tokens(0, 1), T0)).rejects.toThrow(code(status.FAILED_PRECONDITION));
      expect((await book.status(tenant.id, '', T0)).tenant).toMatchObject({ heldMicros: 0, monthSpentMicros: 0, inFlight: 0 });
      await expect(reserve(key.id, tokens(0, 200))).resolves.toMatchObject({ reservedMicros: 400 });
    });

    it('enforces requests per minute per key, with the limit named and a retry hint to the next window', async () => {
      const { key } = await keyWith({}, { requestsPerMinute: 2 });
      await reserve(key.id, tokens(1, 1), T0);
      expect((await reserve(key.id, tokens(1, 1), T0 + 1)).remainingRequests).toBe(0);
      const refused = await reserve(key.id, tokens(1, 1), T0 + 2).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: status.RESOURCE_EXHAUSTED, metadata: { 'aigc-limit': 'requests_per_minute', 'aigc-scope': 'key' } });
      expect((refused as { retryAfterMs: number }).retryAfterMs).toBe(60_000 - 2);
      await expect(reserve(key.id, tokens(1, 1), T0 + 60_000)).resolves.toBeDefined();
    });

    it('enforces tokens per minute per tenant and returns unused tokens on settle', async () => {
      const { key } = await keyWith({ tokensPerMinute: 100 });
      const a = await reserve(key.id, tokens(10, 60), T0);
      await expect(reserve(key.id, tokens(10, 30), T0)).rejects.toThrow(/tokens per minute/);
      await book.settle(a.reservationId, tokens(10, 10), T0 + 1); // 50 of 70 held tokens unused
      await expect(reserve(key.id, tokens(10, 30), T0 + 2)).resolves.toBeDefined();
    });

    it('enforces concurrent requests across the key and frees a slot on settle', async () => {
      const { key } = await keyWith({}, { concurrentRequests: 2 });
      const a = await reserve(key.id, tokens(1, 1));
      await reserve(key.id, tokens(1, 1));
      await expect(reserve(key.id, tokens(1, 1))).rejects.toThrow(/concurrent requests/);
      await book.settle(a.reservationId, tokens(1, 1), T0);
      await expect(reserve(key.id, tokens(1, 1))).resolves.toBeDefined();
    });

    it('enforces a daily budget and resets it the next UTC day', async () => {
      const { key } = await keyWith({ dailyBudgetMicros: 300 });
      const a = await reserve(key.id, tokens(0, 100)); // 200
      await book.settle(a.reservationId, tokens(0, 100), T0);
      await expect(reserve(key.id, tokens(0, 100))).rejects.toThrow(/daily budget/);
      await expect(reserve(key.id, tokens(0, 100), T0 + DAY)).resolves.toBeDefined();
    });

    it('holds once for a retried request id', async () => {
      const { tenant, key } = await keyWith({});
      const a = await reserve(key.id, tokens(1, 1), T0, 'req-1');
      const b = await reserve(key.id, tokens(1, 1), T0, 'req-1');
      expect(b.reservationId).toBe(a.reservationId);
      expect((await book.status(tenant.id, '', T0)).tenant).toMatchObject({ inFlight: 1, heldMicros: 3 });
    });

    it('refuses negative or missing amounts and leaves the hold untouched', async () => {
      const { tenant, key } = await keyWith({});
      const r = await reserve(key.id, tokens(1, 1));
      await expect(book.settle(r.reservationId, { ...tokens(1, 1), audioSeconds: -2 }, T0)).rejects.toThrow(/usage.audioSeconds must be a finite amount >= 0/);
      await expect(book.settle(r.reservationId, undefined, T0)).rejects.toThrow(code(status.INVALID_ARGUMENT));
      await expect(reserve(key.id, { ...tokens(1, 1), computeMs: Number.NaN })).rejects.toThrow(code(status.INVALID_ARGUMENT));
      await expect(book.settle('res_missing', tokens(1, 1), T0)).rejects.toThrow(code(status.NOT_FOUND));
      expect((await book.status(tenant.id, '', T0)).tenant).toMatchObject({ inFlight: 1, heldMicros: 3, monthSpentMicros: 0 });
    });

    it('closes expired holds: charged from the ledger when the work happened, else released', async () => {
      const { tenant, key } = await keyWith({});
      const used = await book.reserve({ apiKeyId: key.id, requestId: 'a', model: 'm', modality: 1, estimate: tokens(10, 10), ttlMs: 1000 }, T0);
      const unused = await book.reserve({ apiKeyId: key.id, requestId: 'b', model: 'm', modality: 1, estimate: tokens(10, 10), ttlMs: 1000 }, T0);
      await ledger.record(UsageEvent.fromPartial({ eventId: 'e1', tenantId: tenant.id, model: 'm', reservationId: used.reservationId, usage: tokens(5, 5), occurredAtMs: T0 + 10 }), 1, T0 + 10);
      expect(await book.expire(T0 + 500)).toBe(0);
      expect(await book.expire(T0 + 2000)).toBe(2);
      expect((await book.status(tenant.id, '', T0 + 2000)).tenant).toMatchObject({ inFlight: 0, heldMicros: 0, monthSpentMicros: 15 });
      await expect(book.settle(unused.reservationId, tokens(1, 1), T0 + 3000)).rejects.toThrow(/already expired/);
    });
  });

  describe('prices', () => {
    it('refuses malformed tables whole, naming every problem', async () => {
      const before = await prices.list();
      const bad = PriceTable.fromPartial({
        currency: 'dollars',
        effectiveFromMs: T0,
        models: [{ model: 'm', unitMicros: { prompt_token: -1, tokens: 2 } }, { model: 'm', unitMicros: {} }],
        infrastructure: { acceleratorSecondMicros: Number.NaN },
      });
      const err = await prices.publish(bad, T0).catch((e: unknown) => e as Error);
      expect(err).toMatchObject({ code: status.INVALID_ARGUMENT });
      for (const part of ['currency must be an ISO 4217 code', 'price of prompt_token must be a finite amount >= 0', 'unknown unit "tokens"', 'model listed twice', 'infrastructure.accelerator_second_micros']) {
        expect(err.message).toContain(part);
      }
      await expect(prices.publish(undefined, T0)).rejects.toThrow(/table is required/);
      await expect(prices.publish({ ...TABLE, effectiveFromMs: T0 - 30 * DAY }, T0)).rejects.toThrow(/must be after version 2/);
      expect(await prices.list()).toEqual(before);
    });

    it('prices each event with the version in effect when it happened', async () => {
      const v3 = await prices.publish({ ...TABLE, effectiveFromMs: T0 + 1000, models: [{ model: 'm', unitMicros: { prompt_token: 10, completion_token: 10 } }] }, T0);
      expect(v3.version).toBe(3);
      expect((await prices.list()).map((t) => t.version)).toEqual([3, 2, 1]);
      await ledger.record(UsageEvent.fromPartial({ eventId: 'old', model: 'm', usage: tokens(1, 1), occurredAtMs: T0 }), 1, T0);
      await ledger.record(UsageEvent.fromPartial({ eventId: 'new', model: 'm', usage: tokens(1, 1), occurredAtMs: T0 + 1000 }), 2, T0);
      const entries = await ledger.list({ limit: 10 });
      expect(Object.fromEntries(entries.map((e) => [e.eventId, [e.costMicros, e.priceVersion]]))).toEqual({ old: [3, 2], new: [20, 3] });
    });
  });

  describe('ledger', () => {
    it('records each event id once however often it is delivered, priced, and books usage without a hold', async () => {
      const { tenant } = await keyWith({});
      const event = (id: string) => UsageEvent.fromPartial({ eventId: id, requestId: 'r1', tenantId: tenant.id, service: 'text', model: 'm', modality: 1, usage: { promptTokens: 3, completionTokens: 5, computeMs: 2500 }, occurredAtMs: T0 });
      expect(await ledger.record(event('e1'), 1, T0)).toBe(true);
      expect(await ledger.record(event('e1'), 2, T0)).toBe(false);
      expect(await ledger.record(event('e2'), 3, T0)).toBe(true);
      expect(await ledger.totals()).toEqual({ events: 2, promptTokens: 6, completionTokens: 10, costMicros: 26 });
      const [first] = await ledger.list({ requestId: 'r1' });
      // 2.5 accelerator-seconds at 1000/s + 1 network; training (600+300+100)/100.
      expect(first).toMatchObject({ costMicros: 13, infrastructureMicros: 2501, trainingMicros: 10, event: { usage: { promptTokens: 3, computeMs: 2500 } } });
      expect((await book.status(tenant.id, '', T0)).tenant?.monthSpentMicros).toBe(26);
      await expect(ledger.record(UsageEvent.fromPartial({ eventId: 'bad', usage: { audioSeconds: -1 } }), 4, T0)).rejects.toThrow(code(status.INVALID_ARGUMENT));
    });
  });

  describe('cost reports', () => {
    it('splits cost into infrastructure, training and operations per tenant, model and day', async () => {
      const a = await keyWith({});
      const b = await keyWith({});
      const rec = (id: string, tenant: string, model: string, at: number, computeMs: number) =>
        ledger.record(UsageEvent.fromPartial({ eventId: id, tenantId: tenant, model, usage: { promptTokens: 1, completionTokens: 1, computeMs }, occurredAtMs: at }), 0, at);
      await rec('1', a.tenant.id, 'm', T0, 1000); // infra 1001, training 10
      await rec('2', a.tenant.id, 'x', T0, 2000); // infra 2001
      await rec('3', b.tenant.id, 'm', T0, 0); // infra 1, training 10
      await rec('4', b.tenant.id, 'm', T0 + DAY, 0); // next day, alone
      const reports = new CostReports(db, prices);
      const total = await reports.report({ fromMs: T0 - DAY, toMs: T0 + 2 * DAY, groupBy: CostGrouping.COST_GROUPING_UNSPECIFIED, tenantId: '' }, T0 + 2 * DAY);
      // Storage 40 and people 80 per day, two days with requests.
      expect(total.total!.cost).toMatchObject({ infrastructureMicros: 1001 + 2001 + 1 + 1 + 80, trainingMicros: 30, operationsMicros: 160 });
      const c = total.total!.cost!;
      expect(c.infrastructureShare + c.trainingShare + c.operationsShare).toBeCloseTo(1, 9);
      const byTenant = await reports.report({ fromMs: T0, toMs: T0 + 2 * DAY, groupBy: CostGrouping.COST_GROUPING_TENANT, tenantId: '' }, T0 + 2 * DAY);
      const tenantA = byTenant.rows.find((r) => r.key === a.tenant.id)!;
      // Day 1: 3 requests share 40 storage and 80 people; a has 2 of them.
      expect(tenantA.cost).toMatchObject({ infrastructureMicros: Math.round(3002 + (40 * 2) / 3), operationsMicros: Math.round((80 * 2) / 3), trainingMicros: 10 });
      expect(tenantA).toMatchObject({ requests: 2, tokens: 4, acceleratorSeconds: 3 });
      const onlyB = await reports.report({ fromMs: T0, toMs: T0 + 2 * DAY, groupBy: CostGrouping.COST_GROUPING_DAY, tenantId: b.tenant.id }, T0 + 2 * DAY);
      expect(onlyB.rows.map((r) => [r.key, r.cost?.operationsMicros])).toEqual([['2025-05-12', Math.round(80 / 3)], ['2025-05-13', 80]]);
      const byModel = await reports.report({ fromMs: T0, toMs: T0 + 2 * DAY, groupBy: CostGrouping.COST_GROUPING_MODEL, tenantId: '' }, T0 + 2 * DAY);
      expect(byModel.rows.map((r) => r.key).sort()).toEqual(['m', 'x']);
      await expect(reports.report({ fromMs: T0, toMs: T0 - 1, groupBy: 0, tenantId: '' })).rejects.toThrow(/must be after from_ms/);
    });

    it('reports latency and error rate of reservations beside cost', async () => {
      const { key } = await keyWith({});
      const r1 = await reserve(key.id, tokens(1, 1), T0);
      const r2 = await reserve(key.id, tokens(1, 1), T0);
      const r3 = await reserve(key.id, tokens(1, 1), T0);
      await book.settle(r1.reservationId, tokens(1, 1), T0 + 100);
      await book.settle(r2.reservationId, tokens(1, 1), T0 + 300);
      await book.release(r3.reservationId, ReleaseReason.RELEASE_REASON_FAILED, T0 + 50);
      const report = await new CostReports(db, prices).report({ fromMs: T0, toMs: T0 + DAY, groupBy: CostGrouping.COST_GROUPING_MODEL, tenantId: '' }, T0 + DAY);
      expect(report.rows[0]).toMatchObject({ key: 'm', qos: { p95LatencyMs: 300, errorRate: 1 / 3, settled: 2, released: 1 } });
    });
  });
});
