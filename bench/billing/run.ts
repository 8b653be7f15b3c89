/**
 * Billing admission benchmark: Reserve+Settle pairs, closed loop with a fixed number in flight,
 * on SQLite (WAL, synchronous=NORMAL) and PostgreSQL (a throwaway local cluster, durable commits)
 * side by side in one run, each measured twice: straight on the ReservationBook (what the store
 * can do) and through the gRPC service (what a gateway sees).
 *
 *   npx tsx bench/billing/run.ts [--pairs 20000] [--concurrency 64] [--out bench/billing/RESULTS.md]
 */
import { execSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectBus, provision } from '@aigc/bus';
import { Limits, Modality, PriceTable } from '@aigc/proto';
import { loadConfig, silentLogger } from '@aigc/runtime';
import { startNats, startPostgres } from '@aigc/testing';
import { Accounts } from '../../services/billing/src/accounts.js';
import { startBilling } from '../../services/billing/src/billing-service.js';
import { billingConfigSpec } from '../../services/billing/src/config.js';
import { PriceBook } from '../../services/billing/src/price-book.js';
import { ReservationBook } from '../../services/billing/src/reservation-book.js';
import { openStore, type StoreLocation } from '../../services/billing/src/store/open-store.js';
import { drive, usage, type Measured } from './drive.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const PAIRS = Number(arg('--pairs', '20000'));
const CONCURRENCY = Number(arg('--concurrency', '64'));
const OUT = arg('--out', `${ROOT}bench/billing/RESULTS.md`);
const KEYS = 16;

interface Result {
  store: string;
  path: string;
  pairs: number;
  seconds: number;
  p50: number;
  p99: number;
}

async function prepare(location: StoreLocation) {
  const db = await openStore(location);
  const prices = new PriceBook(db);
  await prices.seed();
  await prices.publish(PriceTable.fromPartial({ currency: 'USD', effectiveFromMs: 1, models: [{ model: '*', unitMicros: { prompt_token: 1, completion_token: 2 } }] }));
  const accounts = new Accounts(db);
  // Limits that are checked on every pair but never bind.
  const tenant = await accounts.createTenant('bench', Limits.fromPartial({ requestsPerMinute: 1e9, tokensPerMinute: 4e9, concurrentRequests: 100_000, monthlyBudgetMicros: 1e15 }));
  const keys = [];
  for (let i = 0; i < KEYS; i++) keys.push((await accounts.createApiKey(tenant.id, `k${i}`, Limits.fromPartial({ concurrentRequests: 10_000 }))).key.id);
  return { db, prices, keys };
}

async function benchStore(name: string, location: StoreLocation): Promise<Result> {
  const { db, prices, keys } = await prepare(location);
  const book = new ReservationBook(db, prices);
  const pair = async (i: number) => {
    const r = await book.reserve({ apiKeyId: keys[i % KEYS]!, requestId: `s${i}`, model: 'm', modality: Modality.MODALITY_TEXT, estimate: usage(256), ttlMs: 0 });
    await book.settle(r.reservationId, usage(100 + (i % 100)));
  };
  await drive(pair, Math.min(1000, PAIRS / 10), CONCURRENCY); // warm-up
  const r = await drive((i) => pair(i + 1_000_000), PAIRS, CONCURRENCY);
  await db.close();
  return { store: name, path: 'ReservationBook (in process)', pairs: PAIRS, ...r };
}

/** Drives the server from a separate process (bench/billing/grpc-load.ts), as a gateway would. */
function loadFromOtherProcess(address: string, keys: string[]): Promise<Measured> {
  const tsx = join(ROOT, 'node_modules/.bin/tsx');
  const child = spawn(tsx, [join(ROOT, 'bench/billing/grpc-load.ts'), address, String(PAIRS), String(CONCURRENCY), keys.join(',')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Measured) : reject(new Error(`grpc-load exited with ${code}`))));
  });
}

async function benchGrpc(name: string, location: StoreLocation, natsUrl: string): Promise<Result> {
  const { db, keys } = await prepare(location);
  await db.close();
  const bus = await connectBus({ servers: natsUrl, name: 'billing-bench' });
  await provision(bus);
  const env = 'sqlite' in location ? { BILLING_DB: location.sqlite } : { BILLING_DATABASE_URL: location.postgres };
  const config = loadConfig(billingConfigSpec, { ...env, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', NATS_URL: natsUrl, LOG_LEVEL: 'silent' });
  const { host } = await startBilling(config, { logger: silentLogger, bus, metricsPort: null, httpPort: null });
  const r = await loadFromOtherProcess(host.address, keys);
  await host.shutdown();
  return { store: name, path: 'gRPC Reserve + Settle (client in another process)', pairs: PAIRS, ...r };
}

const started = Date.now();
const loadBefore = os.loadavg().map((l) => l.toFixed(2)).join(' ');
const dir = mkdtempSync(join(tmpdir(), 'aigc-billing-bench-'));
const nats = await startNats();
const pg = await startPostgres({ durable: true });
const pgDb = async (n: string): Promise<StoreLocation> => {
  const { default: pgLib } = await import('pg');
  const c = new pgLib.Client(pg.url);
  await c.connect();
  await c.query(`CREATE DATABASE ${n}`);
  await c.end();
  return { postgres: pg.url.replace(/\/postgres$/, `/${n}`), maxConnections: 16 };
};
const results: Result[] = [];
try {
  results.push(await benchStore('SQLite', { sqlite: join(dir, 'store.sqlite') }));
  results.push(await benchStore('PostgreSQL', await pgDb('bench_store')));
  results.push(await benchGrpc('SQLite', { sqlite: join(dir, 'grpc.sqlite') }, nats.url));
  results.push(await benchGrpc('PostgreSQL', await pgDb('bench_grpc'), nats.url));
} finally {
  await pg.stop();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
}

const rate = (r: Result) => r.pairs / r.seconds;
const sqliteStore = rate(results[0]!);
const cpu = cpus()[0]?.model ?? 'unknown';
const nproc = execSync('nproc').toString().trim();
const rows = results.map((r) => `| ${r.store} | ${r.path} | ${Math.round(rate(r))} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${(rate(r) / sqliteStore).toFixed(2)} |`);
const md = `# Billing admission benchmark results

Command: \`npx tsx bench/billing/run.ts --pairs ${PAIRS} --concurrency ${CONCURRENCY}\` (from the repo root, after \`npx nx run @aigc/billing:build\`).
Machine: nproc ${nproc}, CPU ${cpu}, Node ${process.version}. Whole run: ${Math.round((Date.now() - started) / 1000)} s.

Each row runs ${PAIRS} Reserve+Settle pairs (after a warm-up) with ${CONCURRENCY} pairs in flight, spread over ${KEYS} keys of one
tenant whose limits (requests/min, tokens/min, concurrency, monthly budget) are all checked and never bind. Every pair is
two transactions that lock the tenant's and the key's admission rows. Latency is per pair (Reserve + Settle).
SQLite: WAL, synchronous=NORMAL (a commit survives kill -9). PostgreSQL 15: local cluster, default durable commits
(fsync on, synchronous_commit on), 16 pooled connections. In the gRPC rows the billing service runs in this
process and the load comes from a separate client process (bench/billing/grpc-load.ts), as a gateway's would; the ledger consumer is idle.

| store | path | reservations/s | p50 ms | p99 ms | of SQLite in-process |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Target: >= 5,000 reservations/s on SQLite: ${sqliteStore >= 5000 ? 'met' : '**not met**'} in process (${Math.round(sqliteStore)}/s); through gRPC ${Math.round(rate(results[2]!))}/s.
Load average before and after the run: ${loadBefore} / ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (\`uptime\`; 2 cores).
`;
writeFileSync(OUT, md);
process.stdout.write(md);
