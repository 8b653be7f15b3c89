import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { Tracer } from '@opentelemetry/api';
import type { Registry } from 'prom-client';
import { createMetricsRegistry, getTracer, grpcServerMetrics, startMetricsServer, type MetricsServer } from '@aigc/telemetry';
import type { commonConfig, ConfigOf } from './config.js';
import { unavailable } from './errors.js';
import { adaptHandler, type MethodShape, type ServiceHandlers } from './handlers.js';
import { silentLogger, type Logger } from './logger.js';

/** Lifecycle of a host: stopping -> draining -> drained -> stopped, as in Temporal's workers. */
export type HostState = 'created' | 'serving' | 'stopping' | 'draining' | 'drained' | 'stopped';

/** Options of a {@link ServiceHost}. */
export interface ServiceHostOptions {
  /** Service name, e.g. `text`; used for logs, metrics and the tracer. */
  name: string;
  host?: string;
  /** gRPC port; 0 picks a free one. */
  port: number;
  /** Port of the `/metrics` endpoint; `null` serves none (in-process tests). */
  metricsPort?: number | null;
  logger?: Logger;
  registry?: Registry;
  tracer?: Tracer;
  /** How long in-flight calls get to finish on shutdown before they are cancelled. */
  shutdownGraceMs?: number;
  /** Directory of the .proto files served by reflection; found from the repository by default. */
  protoDir?: string;
}

type Cleanup = () => Promise<void> | void;

/**
 * One way to run a gRPC service: binds the server with the standard health service and server
 * reflection, adapts async handlers, serves `/metrics`, and shuts down gracefully: health goes
 * NOT_SERVING, new calls are refused, in-flight calls get the grace period, then the remaining
 * ones are cancelled, connections closed and cleanups run in reverse order.
 */
export class ServiceHost {
  readonly name: string;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly tracer: Tracer;
  readonly health = new HealthImplementation({ '': 'NOT_SERVING' });

  private readonly server = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  private readonly shutdownController = new AbortController();
  private readonly serviceNames: string[] = [];
  private readonly cleanups: Cleanup[] = [];
  private readonly drainers: Array<(graceMs: number) => Promise<void>> = [];
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private metricsServer: MetricsServer | undefined;
  private boundPort = 0;
  private stateValue: HostState = 'created';
  private stopping: Promise<void> | undefined;

  constructor(private readonly options: ServiceHostOptions) {
    this.name = options.name;
    this.logger = options.logger ?? silentLogger;
    this.registry = options.registry ?? createMetricsRegistry(options.name);
    this.tracer = options.tracer ?? getTracer(`@aigc/${options.name}`);
  }

  /**
   * A host configured from a service's {@link commonConfig} values: bind address, gRPC port,
   * grace period, and the metrics port unless `metricsPort` overrides it (`null` serves none, as
   * services started in-process by tests do).
   */
  static fromConfig(
    name: string,
    config: Pick<ConfigOf<ReturnType<typeof commonConfig>>, 'grpcHost' | 'grpcPort' | 'metricsPort' | 'shutdownGraceMs'>,
    deps: { logger: Logger; metricsPort?: number | null },
  ): ServiceHost {
    return new ServiceHost({
      name,
      host: config.grpcHost,
      port: config.grpcPort,
      metricsPort: deps.metricsPort === undefined ? config.metricsPort : deps.metricsPort,
      logger: deps.logger,
      shutdownGraceMs: config.shutdownGraceMs,
    });
  }

  /** Current lifecycle state. */
  get state(): HostState {
    return this.stateValue;
  }

  /** The bound gRPC port (after {@link start}). */
  get port(): number {
    return this.boundPort;
  }

  /** `127.0.0.1:<port>`, for clients on this machine. */
  get address(): string {
    return `127.0.0.1:${this.boundPort}`;
  }

  /** The bound metrics port, if any. */
  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  /** Fires when shutdown passes its grace period; in-flight calls see it through their signal. */
  get shutdownSignal(): AbortSignal {
    return this.shutdownController.signal;
  }

  /** Registers a service with async handlers for each of its methods. */
  addService<D extends Record<string, MethodShape>>(definition: D, handlers: ServiceHandlers<D>): this {
    const impl: UntypedServiceImplementation = {};
    const env = {
      shutdown: this.shutdownController.signal,
      logger: this.logger,
      tracer: this.tracer,
      metrics: grpcServerMetrics(this.registry),
      track: () => this.track(),
    };
    for (const [key, method] of Object.entries(definition)) {
      const handler = (handlers as Record<string, unknown>)[key];
      if (typeof handler !== 'function') throw new Error(`no handler for ${method.path}`);
      impl[key] = adaptHandler(method, handler, env);
    }
    this.server.addService(definition as unknown as ServiceDefinition, impl);
    const first = Object.values(definition)[0];
    if (first) this.serviceNames.push(first.path.slice(1).split('/')[0] ?? '');
    return this;
  }

  /**
   * Registers another server that takes traffic (an HTTP API): at shutdown it is asked to stop
   * accepting and drain within the grace period, alongside the gRPC server.
   */
  onDrain(fn: (graceMs: number) => Promise<void>): this {
    this.drainers.push(fn);
    return this;
  }

  /** Runs `fn` during shutdown, after in-flight calls have drained (last registered runs first). */
  onShutdown(fn: Cleanup): this {
    this.cleanups.push(fn);
    return this;
  }

  /** Binds the gRPC server and the metrics endpoint, then reports SERVING. */
  async start(): Promise<void> {
    this.health.addToServer(this.server);
    this.addReflection();
    this.boundPort = await new Promise<number>((resolvePort, reject) => {
      this.server.bindAsync(`${this.options.host ?? '0.0.0.0'}:${this.options.port}`, ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(err) : resolvePort(port),
      );
    });
    if (this.options.metricsPort !== null && this.options.metricsPort !== undefined) {
      this.metricsServer = await startMetricsServer({ registry: this.registry, port: this.options.metricsPort, host: this.options.host });
    }
    this.setServing(true);
    this.stateValue = 'serving';
    this.logger.info('serving', { grpc_port: this.boundPort, metrics_port: this.metricsServer?.port, services: this.serviceNames });
  }

  /**
   * Graceful shutdown; idempotent. NOT_SERVING at once, refuse new calls, wait up to the grace
   * period for in-flight calls, cancel the rest, close connections, run cleanups.
   */
  shutdown(reason = 'shutdown requested'): Promise<void> {
    this.stopping ??= this.runShutdown(reason);
    return this.stopping;
  }

  /** Shuts down on SIGTERM or SIGINT and exits 0 when drained (1 if shutdown itself failed). */
  exitOnSignals(): void {
    const onSignal = (signal: NodeJS.Signals): void => {
      this.logger.info('signal received; shutting down', { signal });
      this.shutdown(signal).then(
        () => process.exit(0),
        (err: unknown) => {
          this.logger.error('shutdown failed', { error: err });
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  private async runShutdown(reason: string): Promise<void> {
    this.stateValue = 'stopping';
    this.setServing(false);
    this.logger.info('stopping', { reason, in_flight: this.inFlight });
    this.stateValue = 'draining';
    const grace = this.options.shutdownGraceMs ?? 10_000;
    const drained = Promise.all([
      new Promise<void>((resolveDrained) => this.server.tryShutdown(() => resolveDrained())),
      ...this.drainers.map((drain) => drain(grace).catch((err: unknown) => this.logger.error('drain failed', { error: err }))),
    ]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all([drained, this.waitIdle()]).then(() => false),
      new Promise<boolean>((resolveTimeout) => (timer = setTimeout(() => resolveTimeout(true), grace))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.logger.warn('grace period over; cancelling in-flight calls', { in_flight: this.inFlight, grace_ms: grace });
      this.shutdownController.abort(unavailable('server is shutting down'));
      // Handlers see the signal and finish with UNAVAILABLE; give them a moment to send it.
      await Promise.race([this.waitIdle(), new Promise((r) => setTimeout(r, 500))]);
      this.server.forceShutdown();
    }
    this.stateValue = 'drained';
    await this.metricsServer?.close();
    for (const cleanup of [...this.cleanups].reverse()) {
      try {
        await cleanup();
      } catch (err) {
        this.logger.error('cleanup failed during shutdown', { error: err });
      }
    }
    this.stateValue = 'stopped';
    this.logger.info('stopped');
  }

  private setServing(serving: boolean): void {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    this.health.setStatus('', status);
    for (const name of this.serviceNames) this.health.setStatus(name, status);
  }

  private track(): () => void {
    this.inFlight++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight--;
      if (this.inFlight === 0) this.idle?.();
    };
  }

  private waitIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolveIdle) => {
      const previous = this.idle;
      this.idle = () => {
        previous?.();
        resolveIdle();
      };
    });
  }

  private addReflection(): void {
    const protoDir = this.options.protoDir ?? findProtoDir();
    if (!protoDir) {
      this.logger.warn('proto directory not found; server reflection disabled');
      return;
    }
    const files = listProtos(protoDir);
    const definition = loadSync([...files, healthProtoPath], { includeDirs: [protoDir, dirname(healthProtoPath)], keepCase: true });
    new ReflectionService(definition).addToServer(this.server);
  }
}

/** The repository's proto/ directory: $PROTO_DIR, or found walking up from this file. */
export function findProtoDir(): string | undefined {
  if (process.env.PROTO_DIR) return resolve(process.env.PROTO_DIR);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto', 'aigc');
    if (existsSync(candidate)) return join(dir, 'proto');
    dir = dirname(dir);
  }
  return undefined;
}

function listProtos(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listProtos(path, base);
    return name.endsWith('.proto') ? [path.slice(base.length + 1)] : [];
  });
}
