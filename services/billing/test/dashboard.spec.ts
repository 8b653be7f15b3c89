import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, provision } from '@aigc/bus';
import { Limits, Modality, PriceTable, ReleaseReason, UsageEvent, type CostReport } from '@aigc/proto';
import { loadConfig, silentLogger, type ServiceHost } from '@aigc/runtime';
import { createHarness } from '@aigc/testing';
import { Accounts } from '../src/accounts.js';
import { startBilling } from '../src/billing-service.js';
import { billingConfigSpec } from '../src/config.js';
import { money } from '../src/dashboard/dashboard-page.js';
import { PriceBook } from '../src/price-book.js';
import { ReservationBook } from '../src/reservation-book.js';
import { openStore } from '../src/store/open-store.js';
import { UsageLedger } from '../src/usage-ledger.js';

const OUT = resolve(import.meta.dirname, '../test-output');
const DAY = 86_400_000;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Seeds two weeks of traffic for three tenants and three models into a billing database. */
async function seed(path: string, now: number): Promise<void> {
  const db = await openStore({ sqlite: path });
  const prices = new PriceBook(db, 0);
  await prices.seed(now - 30 * DAY);
  await prices.publish(PriceTable.fromPartial({
    currency: 'USD',
    effectiveFromMs: now - 20 * DAY,
    models: [
      { model: 'fortunes-gpt', unitMicros: { prompt_token: 0.4, completion_token: 1.2 }, training: { dataCollectionMicros: 2e9, labellingMicros: 1e9, trainingComputeMicros: 3e9, amortizeOverRequests: 2e6 } },
      { model: 'sd-turbo', unitMicros: { image: 15_000, step: 100 }, training: { dataCollectionMicros: 9e9, labellingMicros: 6e9, trainingComputeMicros: 2e10, amortizeOverRequests: 5e6 } },
      { model: '*', unitMicros: { audio_second: 2000, character: 10 } },
    ],
    infrastructure: { acceleratorSecondMicros: 833, storageMicrosPerDay: 3_000_000, networkMicrosPerRequest: 5 },
    operations: { peopleMicrosPerDay: 40_000_000 },
  }), now - 30 * DAY);
  const accounts = new Accounts(db);
  const ledger = new UsageLedger(db, prices);
  const book = new ReservationBook(db, prices);
  const tenants = await Promise.all(['Acme Studio', 'Globex News', 'Initech Voice'].map((name, i) => accounts.createTenant(name, Limits.fromPartial({ monthlyBudgetMicros: [60_000_000, 0, 25_000_000][i] }))));
  const keys = await Promise.all(tenants.map((t) => accounts.createApiKey(t.id, 'prod', undefined)));
  const models = [
    { model: 'fortunes-gpt', modality: Modality.MODALITY_TEXT, usage: (i: number) => ({ promptTokens: 200 + (i % 50), completionTokens: 300 + (i % 90), computeMs: 40 + (i % 30) }) },
    { model: 'sd-turbo', modality: Modality.MODALITY_IMAGE, usage: (i: number) => ({ images: 1, steps: 4, computeMs: 600 + (i % 200) }) },
    { model: 'tts-small', modality: Modality.MODALITY_AUDIO, usage: (i: number) => ({ audioSeconds: 5 + (i % 10), characters: 80, computeMs: 150 + (i % 50) }) },
  ];
  let n = 0;
  for (let d = 13; d >= 0; d--) {
    for (let i = 0; i < 40 + ((d * 7) % 25); i++) {
      n += 1;
      const t = (n * 7) % 3;
      const m = models[(n + d) % 3]!;
      const at = now - d * DAY - (i % 20) * 60_000;
      const r = await book.reserve({ apiKeyId: keys[t]!.key.id, requestId: `r${n}`, model: m.model, modality: m.modality, estimate: UsageEvent.fromPartial({ usage: m.usage(n) }).usage, ttlMs: 0 }, at);
      if (n % 17 === 0) {
        await book.release(r.reservationId, ReleaseReason.RELEASE_REASON_FAILED, at + 30);
        continue;
      }
      await ledger.record(UsageEvent.fromPartial({ eventId: `e${n}`, requestId: `r${n}`, tenantId: tenants[t]!.id, apiKeyId: keys[t]!.key.id, reservationId: r.reservationId, model: m.model, modality: m.modality, usage: m.usage(n), occurredAtMs: at + 100 }), n, at + 100);
      await book.settle(r.reservationId, UsageEvent.fromPartial({ usage: m.usage(n) }).usage, at + 120 + (n % 40) * 10);
    }
  }
  await db.close();
}

describe('cost dashboard in headless Chromium', () => {
  const harness = createHarness();
  let dir: string;
  let host: ServiceHost;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aigc-billing-dash-'));
    const path = join(dir, 'billing.sqlite');
    await seed(path, Date.now());
    const natsUrl = (await harness.nats()).url;
    const bus = await connectBus({ servers: natsUrl, name: 'billing' });
    await provision(bus);
    const config = loadConfig(billingConfigSpec, { BILLING_DB: path, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', BILLING_HTTP_PORT: '0', NATS_URL: natsUrl });
    const started = await startBilling(config, { logger: silentLogger, bus, metricsPort: null });
    host = started.host;
    base = `http://127.0.0.1:${started.httpPort}`;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await host?.shutdown();
    await harness.close();
    await rm(dir, { recursive: true, force: true });
  });

  const api = async (path: string): Promise<CostReport> => (await (await fetch(`${base}${path}`)).json()) as CostReport;

  it('shows every chart with the numbers the API serves', async () => {
    const [summary, daily, tenants, models] = await Promise.all(['summary', 'daily', 'tenants', 'models'].map((g) => api(`/api/costs/${g}`)));
    const budgets = (await (await fetch(`${base}/api/budgets`)).json()) as Array<{ tenantId: string; monthlyBudgetMicros: number; monthSpentMicros: number; heldMicros: number }>;
    const total = summary.total!.cost!;
    expect(Number(total.totalMicros)).toBeGreaterThan(0);

    const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    const response = await page.goto(`${base}/dashboard`);
    expect(response?.status()).toBe(200);
    await expect(page.title()).resolves.toBe('Cost dashboard - AIGC platform');
    expect(await page.textContent('#total-cost')).toBe(money(Number(total.totalMicros), 'USD'));
    expect(await page.textContent('#total-requests')).toBe(String(summary.total!.requests));

    // Cost share: one slice per component, values and shares as the API reports them.
    const slices = await page.$$eval('#share path.slice', (els) => els.map((e) => [e.getAttribute('data-label'), Number(e.getAttribute('data-value')), Number(e.getAttribute('data-share'))]));
    expect(slices.map((s) => s.slice(0, 2))).toEqual([['infrastructure', Number(total.infrastructureMicros)], ['training', Number(total.trainingMicros)], ['operations', Number(total.operationsMicros)]]);
    expect(slices.reduce((a, s) => a + (s[2] as number), 0)).toBeCloseTo(1, 4);
    for (const s of slices) expect(s[1] as number).toBeGreaterThan(0);

    // Cost over time: one stacked bar per day with traffic (14 days).
    const bars = await page.$$eval('#over-time g.bar', (els) => els.map((e) => [e.getAttribute('data-key'), Number(e.getAttribute('data-total'))]));
    expect(bars).toEqual(daily.rows.map((r) => [r.key, Number(r.cost!.totalMicros)]));
    expect(bars).toHaveLength(14);

    // Per tenant and per model.
    const tenantBars = await page.$$eval('#per-tenant g.hbar', (els) => els.map((e) => [e.getAttribute('data-key'), Number(e.getAttribute('data-value'))]));
    expect(tenantBars).toEqual(tenants.rows.map((r) => [r.key, Number(r.cost!.totalMicros)]));
    expect(await page.$$eval('#per-model g.hbar', (els) => els.map((e) => e.getAttribute('data-key')))).toEqual(models.rows.map((r) => r.key));

    // Budget burn: spent plus held against each tenant's monthly budget.
    const burn = await page.$$eval('#budget-burn g.hbar', (els) => els.map((e) => [e.getAttribute('data-key'), Number(e.getAttribute('data-value')), e.getAttribute('data-limit')]));
    expect(burn).toEqual(budgets.map((b) => [b.tenantId, b.monthSpentMicros + b.heldMicros, b.monthlyBudgetMicros ? String(b.monthlyBudgetMicros) : null]));

    // Quality of service beside cost, per model.
    const qos = await page.$$eval('#qos tbody tr', (els) => els.map((e) => [e.getAttribute('data-model'), e.querySelector('.p95')!.textContent, e.querySelector('.error-rate')!.textContent]));
    expect(qos).toEqual(models.rows.map((r) => [r.key, Number(r.qos!.p95LatencyMs ?? 0).toFixed(1), `${(Number(r.qos!.errorRate ?? 0) * 100).toFixed(1)}%`]));
    expect(models.rows.some((r) => Number(r.qos!.errorRate) > 0)).toBe(true);

    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'cost-dashboard.png'), fullPage: true });
    await page.close();
  });

  it('answers bad report ranges with a clear 400', async () => {
    const res = await fetch(`${base}/api/costs/summary?from=-5`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { message: expect.stringContaining('from must be a time') } });
    const backwards = await fetch(`${base}/api/costs/daily?from=2025-02-01&to=2025-01-01`);
    expect(backwards.status).toBe(400);
    expect((await fetch(`${base}/api/costs/weekly`)).status).toBe(404);
  });
});
