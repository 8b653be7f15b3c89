import type { Msg, Subscription } from '@nats-io/nats-core';
import type { Span } from '@opentelemetry/api';
import type { Bus } from './connect.js';
import { errorFields } from './logger.js';
import type { BusLogger } from './logger.js';
import { headersWithTrace, withConsumerSpan } from './trace-headers.js';

/** Options of {@link publishEvent}. */
export interface PublishEventOptions {
  /** Unique id of the event; a repeat within the stream's duplicate window is stored once. */
  msgId: string;
  /** Extra headers. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** How long to wait for the stream's acknowledgement (default 5000 ms). */
  timeoutMs?: number;
}

/** What the stream answered: where the event is stored, and whether it was a duplicate of an earlier one. */
export interface PublishEventResult {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/**
 * Publishes an event to JetStream with `Nats-Msg-Id` for deduplication and the active trace context in
 * its headers; resolves once the stream has stored it. Retrying with the same `msgId` is safe.
 */
export async function publishEvent(
  bus: Bus,
  subject: string,
  payload: Uint8Array,
  options: PublishEventOptions,
): Promise<PublishEventResult> {
  const { msgId, signal, timeoutMs = 5000 } = options;
  if (!msgId) throw new Error('publishEvent: msgId is required for deduplication');
  signal?.throwIfAborted();
  const publishing = bus.js.publish(subject, payload, {
    msgID: msgId,
    headers: headersWithTrace(options.headers),
    timeout: timeoutMs,
  });
  const ack = signal ? await untilAborted(publishing, signal) : await publishing;
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
}

/** Publishes a core (non-persistent) message with the active trace context in its headers. */
export function publishCore(bus: Bus, subject: string, payload: Uint8Array, headers?: Record<string, string>): void {
  bus.nc.publish(subject, payload, { headers: headersWithTrace(headers) });
}

/** Called for each message of {@link subscribeCore}, inside a CONSUMER span continuing the sender's trace. */
export type CoreHandler = (msg: Msg, span: Span) => void | Promise<void>;

/** Options of {@link subscribeCore}. */
export interface SubscribeCoreOptions {
  /** Queue group: each message goes to one member instead of all. */
  queue?: string;
  logger?: BusLogger;
}

/**
 * Subscribes to a core subject; each message's handler runs, one at a time, inside a CONSUMER span
 * whose parent is the trace context the publisher injected. A throwing handler is logged, not fatal.
 * Stop with `subscription.unsubscribe()` or `bus.drain()`.
 */
export function subscribeCore(
  bus: Bus,
  subject: string,
  handler: CoreHandler,
  options: SubscribeCoreOptions = {},
): Subscription {
  const logger = options.logger ?? bus.logger;
  const sub = bus.nc.subscribe(subject, options.queue ? { queue: options.queue } : {});
  void (async () => {
    for await (const msg of sub) {
      try {
        await withConsumerSpan(`process ${msg.subject}`, msg.headers, messagingAttributes(msg.subject), (span) =>
          Promise.resolve(handler(msg, span)),
        );
      } catch (err) {
        logger.error('core message handler failed', { subject: msg.subject, ...errorFields(err) });
      }
    }
  })();
  return sub;
}

/** OpenTelemetry messaging attributes of a NATS message. */
export function messagingAttributes(subject: string): Record<string, string> {
  return { 'messaging.system': 'nats', 'messaging.destination.name': subject };
}

function untilAborted<T>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
