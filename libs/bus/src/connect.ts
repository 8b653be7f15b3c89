import { jetstream } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { CATALOGUE } from './catalogue.js';
import type { KvBucketName } from './catalogue.js';
import { errorFields, silentLogger } from './logger.js';
import type { BusLogger } from './logger.js';

/** Options of {@link connectBus}. */
export interface ConnectBusOptions {
  /** One or more `nats://host:port` URLs. */
  servers: string | string[];
  /** Connection name shown by the server (use the service name). */
  name: string;
  logger?: BusLogger;
  /** Aborting cancels a pending connect, or drains an open connection. */
  signal?: AbortSignal;
  /** Pause between reconnect attempts in milliseconds (default 1000). */
  reconnectTimeWaitMs?: number;
  /** Keep retrying the first connect instead of failing when no server answers yet (default false). */
  waitOnFirstConnect?: boolean;
}

/** A service's connection to NATS: core, JetStream and the catalogue's KV buckets. */
export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly logger: BusLogger;
  /** The JetStream manager, created on first use and cached. */
  jsm(): Promise<JetStreamManager>;
  /** Opens a catalogue KV bucket (cached); the bucket must have been provisioned. */
  kv(bucket: KvBucketName): Promise<KV>;
  /** Drains subscriptions and pending publishes, then closes. Idempotent. */
  drain(): Promise<void>;
  /** Resolves once the connection is closed for good; never rejects. */
  readonly closed: Promise<void>;
}

/**
 * Connects to NATS with reconnect forever and logs connection status changes.
 * One per process; share the returned {@link Bus} everywhere.
 */
export async function connectBus(options: ConnectBusOptions): Promise<Bus> {
  const { servers, name, signal, logger = silentLogger } = options;
  signal?.throwIfAborted();
  const pending = connect({
    servers,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 1000,
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
  });
  const nc = signal ? await abortable(pending, signal) : await pending;
  logger.info('nats connected', { name, server: nc.getServer() });
  const bus = createBus(nc, logger);
  void logStatus(nc, logger);
  if (signal) {
    const onAbort = () => void bus.drain();
    signal.addEventListener('abort', onAbort, { once: true });
    void bus.closed.then(() => signal.removeEventListener('abort', onAbort));
  }
  return bus;
}

function createBus(nc: NatsConnection, logger: BusLogger): Bus {
  const js = jetstream(nc);
  let jsm: Promise<JetStreamManager> | undefined;
  let draining: Promise<void> | undefined;
  const kvs = new Map<string, Promise<KV>>();
  const known = new Set<string>(CATALOGUE.kvBuckets.map((b) => b.name));
  const closed = nc.closed().then((err) => {
    if (err) logger.error('nats connection closed with error', errorFields(err));
    else logger.info('nats connection closed');
  });

  return {
    nc,
    js,
    logger,
    closed,
    jsm() {
      jsm ??= js.jetstreamManager().catch((err: unknown) => {
        jsm = undefined;
        throw err;
      });
      return jsm;
    },
    kv(bucket) {
      if (!known.has(bucket)) {
        return Promise.reject(new Error(`KV bucket '${bucket}' is not in the catalogue`));
      }
      let kv = kvs.get(bucket);
      if (!kv) {
        kv = new Kvm(js).open(bucket).catch((err: unknown) => {
          kvs.delete(bucket);
          throw err;
        });
        kvs.set(bucket, kv);
      }
      return kv;
    },
    drain() {
      draining ??= nc.isClosed()
        ? closed
        : nc.drain().then(
            () => closed,
            // Draining a connection that closed meanwhile is not an error for the caller.
            (err: unknown) => {
              if (!nc.isClosed()) throw err;
            },
          );
      return draining;
    },
  };
}

async function logStatus(nc: NatsConnection, logger: BusLogger): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case 'disconnect':
        logger.warn('nats disconnected', { server: status.server });
        break;
      case 'reconnect':
        logger.info('nats reconnected', { server: status.server });
        break;
      case 'reconnecting':
        logger.debug('nats reconnecting');
        break;
      case 'error':
        logger.error('nats error', errorFields(status.error));
        break;
      case 'ldm':
        logger.warn('nats server entering lame duck mode', { server: status.server });
        break;
      case 'slowConsumer':
        logger.warn('nats slow consumer', { subject: status.sub.getSubject(), pending: status.pending });
        break;
      case 'staleConnection':
        logger.warn('nats stale connection');
        break;
      default:
        break;
    }
  }
}

function abortable<T extends { close(): Promise<void> }>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      // The connect may still succeed later: close it then, nobody will use it.
      void pending.then((c) => c.close(), () => undefined);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return;
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
