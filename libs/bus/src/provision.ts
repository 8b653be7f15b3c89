import { AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { ConsumerConfig, JetStreamManager, StreamConfig } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { nanos } from '@nats-io/nats-core';
import { CATALOGUE } from './catalogue.js';
import type { ConsumerSpec, KvBucketSpec, StreamSpec } from './catalogue.js';
import type { Bus } from './connect.js';
import { silentLogger } from './logger.js';
import type { BusLogger } from './logger.js';

/** Options of {@link provision}. */
export interface ProvisionOptions {
  logger?: BusLogger;
}

/** What provisioning did to one catalogue entry. */
export type ProvisionAction = 'created' | 'updated' | 'unchanged';

/** What provisioning did, per entry name. */
export interface ProvisionReport {
  streams: Record<string, ProvisionAction>;
  consumers: Record<string, ProvisionAction>;
  kvBuckets: Record<string, ProvisionAction>;
}

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;
const STREAM_NAME_IN_USE = 10058;

/**
 * Creates or updates every stream, durable consumer and KV bucket of the catalogue. Idempotent and safe
 * to run from every service at start, concurrently: what already matches is left alone, what drifted is
 * updated. Fails when the server refuses an update (e.g. a retention change), naming the entry.
 */
export async function provision(bus: Bus, options: ProvisionOptions = {}): Promise<ProvisionReport> {
  const logger = options.logger ?? bus.logger ?? silentLogger;
  const jsm = await bus.jsm();
  const report: ProvisionReport = { streams: {}, consumers: {}, kvBuckets: {} };
  for (const spec of CATALOGUE.streams) {
    report.streams[spec.name] = await named(`stream ${spec.name}`, () => ensureStream(jsm, spec));
  }
  for (const spec of CATALOGUE.consumers) {
    report.consumers[spec.name] = await named(`consumer ${spec.stream}/${spec.name}`, () => ensureConsumer(jsm, spec));
  }
  for (const spec of CATALOGUE.kvBuckets) {
    report.kvBuckets[spec.name] = await named(`KV bucket ${spec.name}`, () => ensureKvBucket(bus, jsm, spec));
  }
  for (const [kind, entries] of Object.entries(report)) {
    for (const [name, action] of Object.entries(entries as Record<string, ProvisionAction>)) {
      if (action === 'unchanged') logger.debug('nats provisioning: unchanged', { kind, name });
      else logger.info(`nats provisioning: ${action}`, { kind, name });
    }
  }
  return report;
}

/** The stream configuration the catalogue asks for. */
export function streamConfig(spec: StreamSpec): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    description: spec.purpose,
    subjects: [...spec.subjects],
    retention: spec.retention === 'workqueue' ? RetentionPolicy.Workqueue : RetentionPolicy.Limits,
    storage: spec.storage === 'memory' ? StorageType.Memory : StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(spec.maxAgeMs),
    duplicate_window: nanos(spec.duplicateWindowMs),
    num_replicas: 1,
  };
}

/** The durable consumer configuration the catalogue asks for. */
export function consumerConfig(spec: ConsumerSpec): Partial<ConsumerConfig> & { durable_name: string } {
  return {
    durable_name: spec.name,
    description: spec.purpose,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(spec.ackWaitMs),
    max_deliver: spec.maxDeliver,
    max_ack_pending: spec.maxAckPending,
    deliver_policy: spec.deliverPolicy === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
  };
}

async function ensureStream(jsm: JetStreamManager, spec: StreamSpec): Promise<ProvisionAction> {
  const wanted = streamConfig(spec);
  let current = await jsm.streams.info(spec.name).catch(ifApiCode(STREAM_NOT_FOUND, () => undefined));
  if (!current) {
    try {
      await jsm.streams.add(wanted);
      return 'created';
    } catch (err) {
      // Another service created it in between with another config: fall through to update.
      if (!(err instanceof JetStreamApiError && err.code === STREAM_NAME_IN_USE)) throw err;
      current = await jsm.streams.info(spec.name);
    }
  }
  if (differs(wanted, current.config)) {
    const { name: _name, ...update } = wanted;
    await jsm.streams.update(spec.name, { ...current.config, ...update });
    return 'updated';
  }
  return 'unchanged';
}

async function ensureConsumer(jsm: JetStreamManager, spec: ConsumerSpec): Promise<ProvisionAction> {
  const wanted = consumerConfig(spec);
  const current = await jsm.consumers.info(spec.stream, spec.name).catch(ifApiCode(CONSUMER_NOT_FOUND, () => undefined));
  if (!current) {
    // Creating with an identical config is idempotent on the server, so a concurrent creator is harmless.
    await jsm.consumers.add(spec.stream, wanted);
    return 'created';
  }
  if (differs(wanted, current.config)) {
    const { durable_name: _d, ack_policy: _a, deliver_policy: _p, ...update } = wanted;
    await jsm.consumers.update(spec.stream, spec.name, update);
    return 'updated';
  }
  return 'unchanged';
}

async function ensureKvBucket(bus: Bus, jsm: JetStreamManager, spec: KvBucketSpec): Promise<ProvisionAction> {
  const streamName = `KV_${spec.name}`;
  const existing = await jsm.streams.info(streamName).catch(ifApiCode(STREAM_NOT_FOUND, () => undefined));
  if (!existing) {
    // Kvm sets up the KV-specific stream settings (rollups, direct get, discard new).
    await new Kvm(bus.js).create(spec.name, {
      description: spec.purpose,
      history: spec.history,
      ttl: spec.ttlMs,
      storage: spec.storage === 'memory' ? StorageType.Memory : StorageType.File,
    });
    return 'created';
  }
  const wanted: Partial<StreamConfig> = {
    description: spec.purpose,
    max_msgs_per_subject: spec.history,
    max_age: nanos(spec.ttlMs),
  };
  // The server refuses a duplicate window longer than the max age, as it does on create.
  if (spec.ttlMs > 0 && existing.config.duplicate_window > nanos(spec.ttlMs)) {
    wanted.duplicate_window = nanos(spec.ttlMs);
  }
  if (differs(wanted, existing.config)) {
    await jsm.streams.update(streamName, { ...existing.config, ...wanted });
    return 'updated';
  }
  return 'unchanged';
}

/** True when any field asked for is not what the server has (arrays compared as sets). */
function differs(wanted: object, actual: object): boolean {
  const have = actual as Record<string, unknown>;
  return Object.entries(wanted).some(([key, value]) => {
    const current = have[key];
    if (Array.isArray(value)) {
      return !Array.isArray(current) || [...value].sort().join('\n') !== [...current].sort().join('\n');
    }
    return (current ?? '') !== (value ?? '');
  });
}

function ifApiCode<T>(code: number, fallback: () => T): (err: unknown) => T {
  return (err: unknown) => {
    if (err instanceof JetStreamApiError && err.code === code) return fallback();
    throw err;
  };
}

async function named<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`provisioning ${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
