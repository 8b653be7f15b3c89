/**
 * bench/gateway: what the gateway adds on top of calling the orchestrator directly.
 *
 *   npx tsx bench/gateway/run.ts [--requests 2000] [--seconds 10] [--concurrency 32]
 *
 * Starts the real platform (NATS + seven service processes) on free ports, then in one run:
 *  - latency, one request at a time: orchestrator directly (gRPC), gateway gRPC, gateway HTTP
 *    (`/v1/completions`), and each admission call the gateway waits for, alone (moderation Check,
 *    billing Reserve);
 *  - the gateway's own work, measured two ways on the same requests: the `gateway` phase of its
 *    `Server-Timing` (wall time inside the gateway not spent waiting for admission or the
 *    orchestrator), and the gateway process's CPU time per request (process_cpu_seconds_total from
 *    its metrics endpoint), which also counts what happens outside the handler (HTTP/2 and HTTP
 *    parsing, the client side of the calls it makes); the orchestrator's CPU per direct request is
 *    beside it, as the cost of one plain forwarding hop;
 *  - throughput at saturation: a closed loop of `concurrency` clients for `seconds` against each face;
 *  - the same against `@portkey-ai/gateway` (${PORTKEY}, installed on first use under
 *    bench/gateway/.peers/, not a dependency of the platform) in front of the same upstream: it
 *    speaks only OpenAI-compatible HTTP, so its upstream is this gateway's HTTP face, and what it adds
 *    over calling that face directly is its own work (it does no admission). `--no-portkey` skips it.
 * Every request generates one token from the bigram model, so model time is as small as it gets.
 * Prints a Markdown report; bench/gateway/RESULTS.md holds the committed one.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { Metadata } from '@grpc/grpc-js';
import { BillingServiceClient, CheckRequest, CheckStage, GatewayServiceClient, Modality, ModerationMode, ModerationServiceClient, OrchestratorServiceClient, Usage, type CompleteRequest } from '@aigc/proto';
import { callUnary, createClient } from '@aigc/runtime';
import { createHarness, freePort, startPlatform, waitFor } from '@aigc/testing';

/** Starts Portkey's gateway (installing it under bench/gateway/.peers/ the first time) on a free port. */
async function startPortkey(): Promise<{ port: number; stop: () => void }> {
  const main = join(PEERS, 'node_modules/@portkey-ai/gateway/build/start-server.js');
  if (!existsSync(main)) execFileSync('npm', ['install', '--prefix', PEERS, '--no-audit', '--no-fund', '--loglevel=error', PORTKEY], { stdio: 'inherit' });
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [main, `--port=${port}`], { stdio: 'ignore' });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined)) !== undefined, { timeoutMs: 30_000 });
  return { port, stop: () => child.kill('SIGTERM') };
}

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const REQUESTS = arg('requests', 2000);
const PORTKEY = '@portkey-ai/gateway@1.15.2';
const PEERS = fileURLToPath(new URL('./.peers/', import.meta.url));
const SECONDS = arg('seconds', 10);
const CONCURRENCY = arg('concurrency', 32);

const body: CompleteRequest = {
  model: '', // set to the text server's model once the platform is up
  prompt: 'The ',
  priority: 0,
  sampling: { maxTokens: 1, temperature: 0, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [] },
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface LatencyRow {
  name: string;
  p50: number;
  p99: number;
  /** The `gateway` phase of Server-Timing, p50 and p99 (gateway faces only). */
  own?: { p50: number; p99: number };
  /** Server-Timing's waits, p50: admission and upstream, as the gateway saw them. */
  phases?: { admission: number; upstream: number };
  /** CPU milliseconds per request of the process that `cpuOf` names. */
  cpuMs?: number;
}

/** Reads a process's CPU seconds from its Prometheus endpoint. */
async function cpuSeconds(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => /^process_cpu_seconds_total[{ ]/.test(l));
  return Number(line?.split(' ').pop());
}

/** `Server-Timing`'s phases in milliseconds. */
function phasesOf(serverTiming: string | undefined): { admission: number; upstream: number; gateway: number } {
  const get = (name: string) => {
    const m = new RegExp(`${name};dur=([\\d.]+)`).exec(serverTiming ?? '');
    if (!m) throw new Error(`no ${name} phase in server-timing: ${serverTiming}`);
    return Number(m[1]);
  };
  return { admission: get('admission'), upstream: get('upstream'), gateway: get('gateway') };
}

/** Samples of one path, gathered over several rounds. */
interface Samples {
  latency: number[];
  own: number[];
  admission: number[];
  upstream: number[];
  cpuSeconds: number;
}

/** Times `count` requests of `fn`, one at a time, into `into`; `fn` may resolve with the response's Server-Timing. */
async function sample(into: Samples, fn: () => Promise<unknown>, count: number, cpuOf?: string): Promise<void> {
  const cpuBefore = cpuOf ? await cpuSeconds(cpuOf) : 0;
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    const timing = await fn();
    into.latency.push(performance.now() - t);
    if (typeof timing === 'string') {
      const p = phasesOf(timing);
      into.own.push(p.gateway);
      into.admission.push(p.admission);
      into.upstream.push(p.upstream);
    }
  }
  if (cpuOf) into.cpuSeconds += (await cpuSeconds(cpuOf)) - cpuBefore;
}

/**
 * Latency of every path, one request at a time: after a warm-up of each, ROUNDS rounds of
 * REQUESTS / ROUNDS requests per path, the order reversed every other round, so drift and
 * warm-up effects fall on every path alike.
 */
async function latencies(paths: Record<string, () => Promise<unknown>>, cpuOf: Record<string, string>): Promise<LatencyRow[]> {
  const ROUNDS = 4;
  const names = Object.keys(paths);
  const samples = new Map(names.map((n) => [n, { latency: [], own: [], admission: [], upstream: [], cpuSeconds: 0 } as Samples]));
  for (const name of names) for (let i = 0; i < 200; i++) await paths[name]!();
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 === 0 ? names : [...names].reverse()) await sample(samples.get(name)!, paths[name]!, Math.ceil(REQUESTS / ROUNDS), cpuOf[name]);
  }
  return names.map((name) => {
    const s = samples.get(name)!;
    for (const list of [s.latency, s.own, s.admission, s.upstream]) list.sort((a, b) => a - b);
    return {
      name,
      p50: percentile(s.latency, 50),
      p99: percentile(s.latency, 99),
      own: s.own.length ? { p50: percentile(s.own, 50), p99: percentile(s.own, 99) } : undefined,
      phases: s.own.length ? { admission: percentile(s.admission, 50), upstream: percentile(s.upstream, 50) } : undefined,
      cpuMs: cpuOf[name] ? (s.cpuSeconds * 1000) / s.latency.length : undefined,
    };
  });
}

async function throughput(fn: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await fn();
        done++;
      }
    }),
  );
  return done / SECONDS;
}

const loadBefore = loadavg().map((l) => l.toFixed(2)).join(' ');
const harness = createHarness();
let portkey: { port: number; stop: () => void } | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'aigc-bench-gateway-'));
try {
  const platform = await startPlatform(harness, { dataDir, logLevel: 'error' });
  const billing = createClient(BillingServiceClient, platform.services.billing.address);
  const tenant = await callUnary(billing, 'createTenant', { name: 'bench', limits: undefined });
  const { key, secret } = await callUnary(billing, 'createApiKey', { tenantId: tenant.id, name: 'bench', limits: undefined });

  const orchestrator = createClient(OrchestratorServiceClient, platform.services.orchestrator.address);
  body.model = (await callUnary(orchestrator, 'listModels', {})).models.find((m) => m.modality === Modality.MODALITY_TEXT)!.id;
  const gateway = createClient(GatewayServiceClient, platform.services.gateway.address);
  const direct = new Metadata();
  direct.set('x-aigc-tenant', tenant.id);
  direct.set('x-aigc-api-key-id', key.id);
  const authorized = new Metadata();
  authorized.set('authorization', `Bearer ${secret}`);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const url = new URL(`${platform.openaiBaseUrl}/completions`);
  const json = JSON.stringify({ model: body.model, prompt: 'The ', max_tokens: 1, temperature: 0 });
  const post = (port: string | number, extraHeaders: Record<string, string> = {}) => () =>
    new Promise<string>((resolve, reject) => {
      const headers = { authorization: `Bearer ${secret}`, 'content-type': 'application/json', ...extraHeaders };
      const req = request({ agent, host: url.hostname, port, path: url.pathname, method: 'POST', headers }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(String(res.headers['server-timing'])) : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(json);
    });
  const http = post(url.port);
  portkey = process.argv.includes('--no-portkey') ? undefined : await startPortkey();
  const faces = {
    'orchestrator (direct gRPC)': () => callUnary(orchestrator, 'complete', body, { metadata: direct }),
    // The raw call, to read the server-timing trailer.
    'gateway gRPC': () =>
      new Promise<string>((resolve, reject) => {
        let failed = false;
        const call = gateway.complete(body, authorized, (err) => err && ((failed = true), reject(err)));
        call.on('status', (st) => failed || resolve(String(st.metadata.get('server-timing')[0])));
      }),
    'gateway HTTP /v1/completions': http,
    ...(portkey
      ? { 'Portkey -> gateway HTTP /v1/completions': post(portkey.port, { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': platform.openaiBaseUrl }) }
      : {}),
  };
  const moderation = createClient(ModerationServiceClient, platform.services.moderation.address);
  const screen = CheckRequest.fromPartial({ text: 'The ', stage: CheckStage.CHECK_STAGE_INPUT, mode: ModerationMode.MODERATION_MODE_BLOCK });
  let n = 0;
  const reserve = () =>
    callUnary(billing, 'reserve', {
      apiKeyId: key.id,
      requestId: `bench-${n++}`,
      model: body.model,
      modality: Modality.MODALITY_TEXT,
      estimate: Usage.fromPartial({ promptTokens: 20, completionTokens: 1 }),
      ttlMs: 60_000,
    });
  // The calls the gateway waits for on each request (its key lookup is cached; Settle runs after the response).
  const admission = {
    'moderation Check (pre-filter)': () => callUnary(moderation, 'check', screen),
    'billing Reserve': reserve,
    'billing Reserve + Settle': async () => callUnary(billing, 'settle', { reservationId: (await reserve()).reservationId, usage: Usage.fromPartial({ promptTokens: 4, completionTokens: 1 }) }),
  };

  const cpuOf: Record<string, string> = {
    'orchestrator (direct gRPC)': platform.metricsUrl('orchestrator'),
    'gateway gRPC': platform.metricsUrl('gateway'),
    'gateway HTTP /v1/completions': platform.metricsUrl('gateway'),
  };
  const rows = await latencies({ ...faces, ...admission }, cpuOf);
  const rates: Array<[string, number]> = [];
  for (const [name, fn] of Object.entries(faces)) rates.push([name, await throughput(fn)]);

  const row = (name: string) => rows.find((r) => r.name === name)!;
  const [directRow, grpcRow, httpRow, checkRow, reserveRow] = ['orchestrator (direct gRPC)', 'gateway gRPC', 'gateway HTTP /v1/completions', 'moderation Check (pre-filter)', 'billing Reserve'].map(row) as [LatencyRow, LatencyRow, LatencyRow, LatencyRow, LatencyRow];
  const portkeyRow = rows.find((r) => r.name.startsWith('Portkey'));
  const admissionP50 = checkRow.p50 + reserveRow.p50;
  const residual = (row: LatencyRow) => row.p50 - directRow.p50 - admissionP50;
  const cpu = cpus()[0]?.model ?? 'unknown';
  console.log(`# bench/gateway

Command: \`npx tsx bench/gateway/run.ts --requests ${REQUESTS} --seconds ${SECONDS} --concurrency ${CONCURRENCY}\`
Machine: ${cpus().length} cores (${cpu}), Node ${process.version}; every service a separate process on this machine.
Load average at the start and the end: ${loadBefore} / ${loadavg().map((l) => l.toFixed(2)).join(' ')}.

## Latency, one request at a time (${REQUESTS} requests each, after 200 warm-up; in 4 rounds, the order of the paths reversed every other round)

| path | p50 ms | p99 ms |
| --- | --- | --- |
${rows.map((r) => `| ${r.name} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} |`).join('\n')}

## The gateway's own work (same requests)

| face | Server-Timing \`gateway\` p50 ms | p99 ms | \`admission\` p50 ms | \`upstream\` p50 ms | client latency - the three phases, p50 ms | gateway CPU ms per request | orchestrator CPU ms per direct request |
| --- | --- | --- | --- | --- | --- | --- | --- |
${[['gRPC', grpcRow], ['HTTP', httpRow] as const].map(([face, r]) => `| ${face} | ${r.own!.p50.toFixed(3)} | ${r.own!.p99.toFixed(3)} | ${r.phases!.admission.toFixed(3)} | ${r.phases!.upstream.toFixed(3)} | ${(r.p50 - r.own!.p50 - r.phases!.admission - r.phases!.upstream).toFixed(3)} | ${r.cpuMs!.toFixed(3)} | ${directRow.cpuMs!.toFixed(3)} |`).join('\n')}

| derived by subtraction (p50) | ms |
| --- | --- |
| gateway gRPC adds over direct | ${(grpcRow.p50 - directRow.p50).toFixed(3)} |
| gateway HTTP adds over direct | ${(httpRow.p50 - directRow.p50).toFixed(3)} |
| of which admission calls on the path (Check + Reserve, each timed alone) | ${admissionP50.toFixed(3)} |
| residual (extra hop + own work), gRPC face | ${residual(grpcRow).toFixed(3)} |
| residual (extra hop + own work), HTTP face | ${residual(httpRow).toFixed(3)} |
${portkeyRow ? `
## Portkey in front of the same upstream (${PORTKEY})

| path | p50 ms | p99 ms | adds over gateway HTTP direct, p50 ms |
| --- | --- | --- | --- |
| ${portkeyRow.name} | ${portkeyRow.p50.toFixed(3)} | ${portkeyRow.p99.toFixed(3)} | ${(portkeyRow.p50 - httpRow.p50).toFixed(3)} |
` : ''}
## Throughput at saturation (${CONCURRENCY} concurrent clients, ${SECONDS} s each)

| path | requests/s | ratio to direct |
| --- | --- | --- |
${rates.map(([n, r]) => `| ${n} | ${r.toFixed(0)} | ${(r / rates[0]![1]).toFixed(2)} |`).join('\n')}
`);
  for (const c of [billing, orchestrator, gateway, moderation]) c.close();
  agent.destroy();
} finally {
  portkey?.stop();
  await harness.close();
  rmSync(dataDir, { recursive: true, force: true });
}
