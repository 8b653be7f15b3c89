import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';
import { waitForGrpcServing } from './grpc-health.js';
import type { Harness } from './harness.js';
import type { NatsServer } from './nats-server.js';
import type { SpawnedProcess } from './process.js';

/** The seven services, in start order (dependencies first). */
export const SERVICES = ['billing', 'moderation', 'text', 'image', 'audio', 'orchestrator', 'gateway'] as const;
/** A platform service name. */
export type ServiceName = (typeof SERVICES)[number];

/** The default gRPC and metrics ports of each service (as in deploy/ and the README). */
export const DEFAULT_PORTS: Record<ServiceName, { grpc: number; metrics: number }> = {
  gateway: { grpc: 50051, metrics: 9461 },
  orchestrator: { grpc: 50052, metrics: 9462 },
  text: { grpc: 50053, metrics: 9463 },
  image: { grpc: 50054, metrics: 9464 },
  audio: { grpc: 50055, metrics: 9465 },
  moderation: { grpc: 50056, metrics: 9466 },
  billing: { grpc: 50057, metrics: 9467 },
};

/** One running service of a {@link Platform}. */
export interface RunningService {
  name: ServiceName;
  address: string;
  grpcPort: number;
  metricsPort: number;
  process: SpawnedProcess;
}

/** A whole platform on this machine: NATS plus seven service processes. */
export interface Platform {
  nats: NatsServer;
  services: Record<ServiceName, RunningService>;
  /** `http://127.0.0.1:<port>/metrics` of a service. */
  metricsUrl(name: ServiceName): string;
  /** Base URL of the gateway's OpenAI-compatible HTTP API, e.g. `http://127.0.0.1:8080/v1`. */
  openaiBaseUrl: string;
  /** The cost dashboard served by billing. */
  dashboardUrl: string;
}

/** Options of {@link startPlatform}. */
export interface PlatformOptions {
  /** `free` (tests) picks free ports; `default` uses {@link DEFAULT_PORTS}. */
  ports?: 'free' | 'default';
  /** Extra environment per service, e.g. `{ text: { TEXT_INSTANCES: '2' } }`. */
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  /** Directory for service data (the billing database). */
  dataDir: string;
  /** The repository root; found from this file by default. */
  root?: string;
  /** Log level of every service. */
  logLevel?: string;
  startTimeoutMs?: number;
  /** Options passed to the NATS server. */
  natsPort?: number;
}

/** The repository root, found walking up from this file (the folder with proto/ and services/). */
export function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'services')) && existsSync(join(dir, 'proto'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('repository root not found');
}

/**
 * Starts NATS and the seven services as real processes from their built `dist/main.js`, wired to
 * each other, and waits until each reports SERVING. Everything is registered with the harness,
 * so `harness.close()` stops it all (SIGTERM first, as in production).
 */
export async function startPlatform(harness: Harness, options: PlatformOptions): Promise<Platform> {
  const root = options.root ?? repositoryRoot();
  const nats = await harness.nats(options.natsPort ? { port: options.natsPort } : {});
  const ports = {} as Record<ServiceName, { grpc: number; metrics: number }>;
  for (const name of SERVICES) {
    ports[name] = options.ports === 'default' ? DEFAULT_PORTS[name] : { grpc: await freePort(), metrics: await freePort() };
  }
  const addr = (name: ServiceName) => `127.0.0.1:${ports[name].grpc}`;
  const httpPort = options.ports === 'default' ? 8080 : await freePort();
  const dashboardPort = options.ports === 'default' ? 8090 : await freePort();
  const wiring: Record<ServiceName, Record<string, string>> = {
    billing: { BILLING_DB: join(options.dataDir, 'billing.sqlite'), BILLING_HTTP_PORT: String(dashboardPort) },
    moderation: {},
    text: {},
    image: {},
    audio: {},
    orchestrator: { TEXT_ADDR: addr('text'), IMAGE_ADDR: addr('image'), AUDIO_ADDR: addr('audio'), MODERATION_ADDR: addr('moderation') },
    gateway: { ORCHESTRATOR_ADDR: addr('orchestrator'), BILLING_ADDR: addr('billing'), MODERATION_ADDR: addr('moderation'), GATEWAY_HTTP_PORT: String(httpPort) },
  };

  const services = {} as Record<ServiceName, RunningService>;
  const starting = SERVICES.map(async (name) => {
    const entry = resolve(root, 'services', name, 'dist', 'main.js');
    if (!existsSync(entry)) throw new Error(`${entry} is missing: build first (npx nx run-many -t build)`);
    const proc = harness.process({
      name,
      command: process.execPath,
      args: [entry],
      cwd: root,
      env: {
        GRPC_HOST: '127.0.0.1',
        GRPC_PORT: String(ports[name].grpc),
        METRICS_PORT: String(ports[name].metrics),
        NATS_URL: nats.url,
        LOG_LEVEL: options.logLevel ?? 'info',
        ...wiring[name],
        ...options.env?.[name],
      },
      graceMs: 15_000,
    });
    services[name] = { name, address: addr(name), grpcPort: ports[name].grpc, metricsPort: ports[name].metrics, process: proc };
    const ready = waitForGrpcServing(addr(name), { timeoutMs: options.startTimeoutMs ?? 90_000 });
    const died = proc.exited.then((exit) => {
      throw new Error(`${name} exited during start (${JSON.stringify(exit)}):\n${proc.logs()}`);
    });
    await Promise.race([ready, died]);
  });
  await Promise.all(starting);
  return {
    nats,
    services,
    metricsUrl: (name) => `http://127.0.0.1:${ports[name].metrics}/metrics`,
    openaiBaseUrl: `http://127.0.0.1:${httpPort}/v1`,
    dashboardUrl: `http://127.0.0.1:${dashboardPort}/dashboard`,
  };
}
