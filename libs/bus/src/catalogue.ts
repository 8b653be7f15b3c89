/**
 * The messaging catalogue: every subject, stream, durable consumer and KV bucket of the platform, in one
 * place. Provisioning creates what is declared here, and the docs table is rendered from it.
 */

/** Who publishes and who reads a catalogue entry, and why it exists: one line each, for the docs. */
export interface CatalogueDoc {
  purpose: string;
  producer: string;
  consumer: string;
}

/** A JetStream stream. */
export interface StreamSpec extends CatalogueDoc {
  name: string;
  subjects: readonly string[];
  /** `limits`: kept until max age; `workqueue`: removed once acknowledged. */
  retention: 'limits' | 'workqueue';
  storage: 'file' | 'memory';
  /** Oldest message kept, in milliseconds (0 = forever). */
  maxAgeMs: number;
  /** Window in which a repeated `Nats-Msg-Id` is dropped as a duplicate, in milliseconds. */
  duplicateWindowMs: number;
}

/** A durable pull consumer on a stream. */
export interface ConsumerSpec extends CatalogueDoc {
  stream: string;
  name: string;
  /** Time a delivered message may stay unacknowledged before it is redelivered, in milliseconds. */
  ackWaitMs: number;
  /** Deliveries before a message is given up on; -1 = never give up. */
  maxDeliver: number;
  /** Unacknowledged messages in flight at once across all pullers. */
  maxAckPending: number;
  deliverPolicy: 'all' | 'new';
}

/** A core NATS subject (fire-and-forget broadcast, no persistence). */
export interface SubjectSpec extends CatalogueDoc {
  name: string;
}

/** A JetStream key-value bucket. */
export interface KvBucketSpec extends CatalogueDoc {
  name: string;
  /** Entry lifetime in milliseconds (0 = no expiry). */
  ttlMs: number;
  /** Values kept per key. */
  history: number;
  storage: 'file' | 'memory';
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** JetStream streams of the platform. */
export const STREAMS = {
  usage: {
    name: 'AIGC_USAGE',
    subjects: ['aigc.usage.>'],
    retention: 'limits',
    storage: 'file',
    maxAgeMs: 7 * DAY,
    duplicateWindowMs: 2 * MINUTE,
    purpose: 'every unit of work, exactly once in the ledger (deduplicated by Nats-Msg-Id)',
    producer: 'model servers, orchestrator',
    consumer: 'billing',
  },
  review: {
    name: 'AIGC_REVIEW',
    subjects: ['aigc.review.>'],
    retention: 'workqueue',
    storage: 'file',
    maxAgeMs: 30 * DAY,
    duplicateWindowMs: 2 * MINUTE,
    purpose: 'content that needs a human decision',
    producer: 'moderation',
    consumer: 'human reviewers',
  },
} as const satisfies Record<string, StreamSpec>;

/** Durable consumers of the platform. */
export const CONSUMERS = {
  billingLedger: {
    stream: STREAMS.usage.name,
    name: 'billing-ledger',
    ackWaitMs: 30_000,
    // Usage is money: never drop an event, keep retrying until the ledger takes it.
    maxDeliver: -1,
    maxAckPending: 1000,
    deliverPolicy: 'all',
    purpose: 'writes usage events into the ledger; idempotent by event id',
    producer: 'model servers, orchestrator',
    consumer: 'billing',
  },
  reviewQueue: {
    stream: STREAMS.review.name,
    name: 'review-queue',
    // A human decides: leave them time before the item goes to someone else.
    ackWaitMs: 10 * MINUTE,
    maxDeliver: -1,
    maxAckPending: 1000,
    deliverPolicy: 'all',
    purpose: 'hands each review item to one reviewer at a time',
    producer: 'moderation',
    consumer: 'human reviewers',
  },
} as const satisfies Record<string, ConsumerSpec>;

/** Core NATS subjects of the platform. */
export const SUBJECTS = {
  lexiconChanged: {
    name: 'aigc.lexicon.changed',
    purpose: 'hot reload of the sensitive-word library (version in KV aigc_lexicon)',
    producer: 'moderation admin',
    consumer: 'all moderation replicas',
  },
  keysChanged: {
    name: 'aigc.keys.changed',
    purpose: 'revoke or change an API key everywhere within a second',
    producer: 'billing',
    consumer: 'all gateways',
  },
} as const satisfies Record<string, SubjectSpec>;

/** KV buckets of the platform. */
export const KV_BUCKETS = {
  sessions: {
    name: 'aigc_sessions',
    ttlMs: 1 * HOUR,
    history: 1,
    storage: 'file',
    purpose: 'conversation context cache',
    producer: 'orchestrator',
    consumer: 'orchestrator',
  },
  runs: {
    name: 'aigc_runs',
    ttlMs: 0,
    history: 1,
    storage: 'file',
    purpose: 'durable workflow state',
    producer: 'orchestrator',
    consumer: 'orchestrator',
  },
  results: {
    name: 'aigc_results',
    ttlMs: 1 * HOUR,
    history: 1,
    storage: 'file',
    purpose: 'result cache',
    producer: 'orchestrator',
    consumer: 'orchestrator',
  },
  lexicon: {
    name: 'aigc_lexicon',
    ttlMs: 0,
    history: 10,
    storage: 'file',
    purpose: 'current sensitive-word library version',
    producer: 'moderation admin',
    consumer: 'all moderation replicas',
  },
} as const satisfies Record<string, KvBucketSpec>;

/** Name of a KV bucket declared in the catalogue. */
export type KvBucketName = (typeof KV_BUCKETS)[keyof typeof KV_BUCKETS]['name'];

/** Everything declared, as arrays: what provisioning walks. */
export const CATALOGUE: {
  streams: readonly StreamSpec[];
  consumers: readonly ConsumerSpec[];
  subjects: readonly SubjectSpec[];
  kvBuckets: readonly KvBucketSpec[];
} = {
  streams: Object.values(STREAMS),
  consumers: Object.values(CONSUMERS),
  subjects: Object.values(SUBJECTS),
  kvBuckets: Object.values(KV_BUCKETS),
};

/** Subject of a usage event for one modality: `usageSubject('text')` is `aigc.usage.text`. */
export function usageSubject(modality: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(modality)) {
    throw new Error(`usageSubject: modality must be one subject token of [A-Za-z0-9_-], got '${modality}'`);
  }
  return `aigc.usage.${modality}`;
}

/** Renders the messaging catalogue as the Markdown table of the project's docs, so the docs stay true. */
export function catalogueMarkdown(): string {
  const ttl = (ms: number) => (ms === 0 ? 'no TTL' : `TTL ${formatDuration(ms)}`);
  const rows: string[][] = [
    ...CATALOGUE.streams.map((s) => [
      s.subjects.map(code).join(', '),
      `JetStream stream ${code(s.name)}, ${s.retention === 'workqueue' ? 'work queue' : `kept ${formatDuration(s.maxAgeMs)}`}, ` +
        `deduplicated by \`Nats-Msg-Id\` within ${formatDuration(s.duplicateWindowMs)}`,
      `${s.producer} -> ${s.consumer}`,
      s.purpose,
    ]),
    ...CATALOGUE.consumers.map((c) => [
      code(c.name),
      `durable pull consumer on ${code(c.stream)}, ack wait ${formatDuration(c.ackWaitMs)}, ` +
        (c.maxDeliver < 0 ? 'redelivered until acknowledged' : `at most ${c.maxDeliver} deliveries`),
      `${c.producer} -> ${c.consumer}`,
      c.purpose,
    ]),
    ...CATALOGUE.subjects.map((s) => [code(s.name), 'core subject', `${s.producer} -> ${s.consumer}`, s.purpose]),
    ...CATALOGUE.kvBuckets.map((b) => [
      code(b.name),
      `KV bucket, ${ttl(b.ttlMs)}, history ${b.history}`,
      `${b.producer} -> ${b.consumer}`,
      b.purpose,
    ]),
  ];
  const lines = [
    '| name | kind | producer -> consumer | purpose |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

function code(text: string): string {
  return `\`${text}\``;
}

function formatDuration(ms: number): string {
  if (ms === 0) return 'forever';
  for (const [unit, size] of [['d', DAY], ['h', HOUR], ['min', MINUTE], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size} ${unit}`;
  }
  return `${ms} ms`;
}
