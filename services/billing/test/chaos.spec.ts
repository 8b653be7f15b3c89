import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, provision, publishEvent, usageSubject, type Bus } from '@aigc/bus';
import { Modality, UsageEvent } from '@aigc/proto';
import { createHarness, freePort, waitFor, waitForGrpcServing, type SpawnedProcess } from '@aigc/testing';

const ENTRY = resolve(import.meta.dirname, '../dist/main.js');
const EVENTS = 10_000;
const KILL_AT = [3000, 6500];

/**
 * Exactly once under crashes: while 10,000 usage events flow through JetStream, billing is killed
 * with SIGKILL twice (mid-batch, between commit and acknowledgement) and restarted on the same
 * database. Redelivered events must be ignored and none may be lost.
 */
describe('ledger under kill -9', () => {
  const harness = createHarness();
  let bus: Bus;
  let dir: string;
  let natsUrl: string;
  let httpPort: number;
  let generation = 0;

  let grpcAddress = '';
  const startBilling = async (): Promise<SpawnedProcess> => {
    generation += 1;
    const grpcPort = await freePort();
    grpcAddress = `127.0.0.1:${grpcPort}`;
    const proc = harness.process({
      name: `billing-${generation}`,
      command: process.execPath,
      args: [ENTRY],
      env: { BILLING_DB: join(dir, 'billing.sqlite'), GRPC_HOST: '127.0.0.1', GRPC_PORT: String(grpcPort), METRICS_PORT: '0', BILLING_HTTP_PORT: String(httpPort), NATS_URL: natsUrl, LOG_LEVEL: 'warn' },
      graceMs: 10_000,
    });
    return proc;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aigc-billing-chaos-'));
    natsUrl = (await harness.nats()).url;
    bus = await connectBus({ servers: natsUrl, name: 'chaos-publisher' });
    await provision(bus);
    httpPort = await freePort();
  });
  afterAll(async () => {
    await bus?.drain();
    await harness.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the ledger holds exactly what was sent after two crashes', async () => {
    let billing = await startBilling();
    const sent = { events: 0, promptTokens: 0, completionTokens: 0 };
    const kills: number[] = [];
    for (let base = 0; base < EVENTS; base += 250) {
      const batch = Array.from({ length: 250 }, (_, j) => base + j);
      await Promise.all(
        batch.map(async (i) => {
          const event = UsageEvent.fromPartial({ eventId: `chaos-${i}`, requestId: `req-${i}`, tenantId: `ten_${i % 5}`, service: 'text', model: i % 2 ? 'a' : 'b', modality: Modality.MODALITY_TEXT, usage: { promptTokens: (i % 7) + 1, completionTokens: (i % 11) + 1, computeMs: i % 13 }, occurredAtMs: Date.now() });
          await publishEvent(bus, usageSubject('text'), UsageEvent.encode(event).finish(), { msgId: event.eventId, timeoutMs: 20_000 });
          sent.events += 1;
          sent.promptTokens += event.usage!.promptTokens;
          sent.completionTokens += event.usage!.completionTokens;
        }),
      );
      const next = base + 250;
      if (KILL_AT.some((k) => k > base && k <= next)) {
        // Let billing get into the middle of consuming, then crash it without warning.
        await waitForGrpcServing(grpcAddress, { timeoutMs: 30_000 });
        await waitFor(() => totals().then((t) => t.events > 0 && t.events < sent.events), { timeoutMs: 30_000, intervalMs: 10 }).catch(() => undefined);
        billing.kill('SIGKILL');
        await billing.exited;
        kills.push((await totalsFromDisk()).events);
        billing = await startBilling();
      }
    }
    expect(kills).toHaveLength(2);
    expect(sent.events).toBe(EVENTS);
    const final = await waitFor(async () => {
      const t = await totals().catch(() => undefined);
      return t && t.events >= EVENTS ? t : undefined;
    }, { timeoutMs: 90_000, intervalMs: 250, message: 'ledger to catch up' });
    expect(final).toMatchObject(sent);
    // Nothing more arrives later (no late duplicates counted).
    await new Promise((r) => setTimeout(r, 1000));
    expect(await totals()).toMatchObject(sent);
  });

  async function totals(): Promise<{ events: number; promptTokens: number; completionTokens: number }> {
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/ledger/totals`);
    if (!res.ok) throw new Error(`totals: HTTP ${res.status}`);
    return (await res.json()) as { events: number; promptTokens: number; completionTokens: number };
  }

  async function totalsFromDisk(): Promise<{ events: number }> {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(dir, 'billing.sqlite'), { readonly: true });
    try {
      return db.prepare('SELECT COUNT(*) AS events FROM usage_events').get() as { events: number };
    } finally {
      db.close();
    }
  }
});
