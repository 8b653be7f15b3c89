import { randomUUID } from 'node:crypto';
import { publishEvent, usageSubject, type Bus } from '@aigc/bus';
import { Modality, UsageEvent, type Usage } from '@aigc/proto';

/** Subject suffix per modality: `aigc.usage.text`, `aigc.usage.image`, ... */
const SUBJECT_SUFFIX: Record<Modality, string> = {
  [Modality.MODALITY_UNSPECIFIED]: 'other',
  [Modality.MODALITY_TEXT]: 'text',
  [Modality.MODALITY_EMBEDDING]: 'embedding',
  [Modality.MODALITY_IMAGE]: 'image',
  [Modality.MODALITY_AUDIO]: 'audio',
  [Modality.MODALITY_MODERATION]: 'moderation',
  [Modality.UNRECOGNIZED]: 'other',
};

/** What a service knows about one finished unit of work. */
export interface UsageRecord {
  requestId: string;
  tenantId: string | undefined;
  apiKeyId: string | undefined;
  reservationId: string | undefined;
  model: string;
  modality: Modality;
  usage: Partial<Usage>;
}

/**
 * Reports every unit of work to the usage stream. Each event gets an id once and keeps it across
 * retries, so JetStream's `Nats-Msg-Id` deduplication and the ledger's unique key together record
 * it exactly once.
 */
export class UsageMeter {
  constructor(
    private readonly bus: Bus,
    private readonly service: string,
  ) {}

  /** Builds the event for a finished unit of work. */
  event(record: UsageRecord, eventId: string = randomUUID()): UsageEvent {
    return UsageEvent.fromPartial({
      eventId,
      requestId: record.requestId,
      tenantId: record.tenantId ?? '',
      apiKeyId: record.apiKeyId ?? '',
      reservationId: record.reservationId ?? '',
      service: this.service,
      model: record.model,
      modality: record.modality,
      usage: record.usage,
      occurredAtMs: Date.now(),
    });
  }

  /**
   * Publishes an event, retrying with the same id until the stream stores it or `attempts` run
   * out. Resolves with whether the stream saw it as a duplicate.
   */
  async publish(event: UsageEvent, options: { attempts?: number; timeoutMs?: number } = {}): Promise<{ duplicate: boolean }> {
    const attempts = options.attempts ?? 5;
    const payload = UsageEvent.encode(event).finish();
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const ack = await publishEvent(this.bus, usageSubject(SUBJECT_SUFFIX[event.modality]), payload, {
          msgId: event.eventId,
          timeoutMs: options.timeoutMs ?? 5000,
        });
        return { duplicate: ack.duplicate };
      } catch (err) {
        lastError = err;
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
    throw lastError;
  }

  /** Builds and publishes in one step. */
  record(record: UsageRecord): Promise<{ duplicate: boolean }> {
    return this.publish(this.event(record));
  }
}

/** Decodes a usage event read from the stream. */
export function decodeUsageEvent(payload: Uint8Array): UsageEvent {
  return UsageEvent.decode(payload);
}
