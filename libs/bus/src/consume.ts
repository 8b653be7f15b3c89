import type { JsMsg } from '@nats-io/jetstream';
import type { Span } from '@opentelemetry/api';
import type { Bus } from './connect.js';
import { errorFields } from './logger.js';
import type { BusLogger } from './logger.js';
import { messagingAttributes } from './publish.js';
import { withConsumerSpan } from './trace-headers.js';

/** What a durable handler gets besides the message. */
export interface DeliveryContext {
  /** The CONSUMER span the handler runs in (also the active span). */
  span: Span;
  /** Fires when the consumer is being stopped; a long handler may give up early (the message is redelivered). */
  signal: AbortSignal;
  /** 1 on first delivery, more on redeliveries. */
  deliveryCount: number;
}

/** Handles one durable message; resolve to acknowledge it, throw to have it redelivered. Must be idempotent. */
export type DurableHandler = (msg: JsMsg, ctx: DeliveryContext) => Promise<void>;

/** Options of {@link consumeDurable}. */
export interface ConsumeDurableOptions {
  /** Stream name (from the catalogue). */
  stream: string;
  /** Durable consumer name (from the catalogue); must have been provisioned. */
  consumer: string;
  handler: DurableHandler;
  /** Aborting stops pulling; the message in hand is finished and acknowledged first. */
  signal: AbortSignal;
  logger?: BusLogger;
  /** Messages pulled ahead per request (default 16). */
  batch?: number;
  /** Delay before a failed message is redelivered, in milliseconds (default 1000). */
  nakDelayMs?: number;
}

/**
 * Pulls from a durable consumer and runs `handler` for each message, one at a time, inside a CONSUMER span
 * continuing the publisher's trace. Acknowledges only after the handler resolves; on error naks with a
 * delay so the message comes back. At-least-once delivery plus an idempotent handler gives exactly once.
 * Resolves once stopped by `signal`.
 */
export async function consumeDurable(bus: Bus, options: ConsumeDurableOptions): Promise<void> {
  const { stream, consumer, handler, signal, batch = 16, nakDelayMs = 1000 } = options;
  const logger = options.logger ?? bus.logger;
  if (signal.aborted) return;
  const pull = await bus.js.consumers.get(stream, consumer);
  const messages = await pull.consume({ max_messages: batch });
  const onAbort = () => void messages.close();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  logger.info('durable consumer started', { stream, consumer });
  try {
    for await (const msg of messages) {
      if (signal.aborted) break; // buffered but not handled: leave it for redelivery
      const deliveryCount = msg.info.deliveryCount;
      const attributes = {
        ...messagingAttributes(msg.subject),
        'messaging.consumer.group.name': consumer,
        'messaging.message.delivery_count': deliveryCount,
        'messaging.nats.stream.sequence': msg.seq,
      };
      try {
        await withConsumerSpan(`process ${msg.subject}`, msg.headers, attributes, (span) =>
          handler(msg, { span, signal, deliveryCount }),
        );
        msg.ack();
      } catch (err) {
        msg.nak(nakDelayMs);
        logger.warn('durable handler failed; message will be redelivered', {
          stream,
          consumer,
          subject: msg.subject,
          seq: msg.seq,
          deliveryCount,
          nakDelayMs,
          ...errorFields(err),
        });
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    await messages.close();
    logger.info('durable consumer stopped', { stream, consumer });
  }
}
