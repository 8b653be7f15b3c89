import { Usage, UsageEvent, type LedgerEntry } from '@aigc/proto';
import { invalidArgument } from '@aigc/runtime';
import { lockScopes, roll, saveScope } from './admission-state.js';
import type { PriceBook } from './price-book.js';
import { chargeFor, eventCost, validateUsage } from './price-table.js';
import { num, str, type SqlDatabase, type SqlRow } from './store/sql-database.js';

/** Filters of {@link UsageLedger.list}. */
export interface LedgerFilter {
  requestId?: string;
  tenantId?: string;
  limit?: number;
}

/** Totals over the whole ledger (tests, chaos checks, the dashboard's header). */
export interface LedgerTotals {
  events: number;
  promptTokens: number;
  completionTokens: number;
  costMicros: number;
}

/**
 * The usage ledger: every usage event exactly once, priced with the table in effect when the work
 * happened. The event id is the primary key and the insert does nothing on conflict, so a
 * redelivered or republished event is never counted twice; the consumer acknowledges only after
 * the insert commits. Usage that bypassed admission (no reservation) is added to the tenant's
 * spend in the same transaction, so budgets see it too.
 */
export class UsageLedger {
  constructor(
    private readonly db: SqlDatabase,
    private readonly prices: PriceBook,
  ) {}

  /** Records an event; resolves false when it was already in the ledger. */
  async record(event: UsageEvent, streamSeq: number, now = Date.now()): Promise<boolean> {
    if (!event.eventId) throw invalidArgument('usage event without event_id');
    const usage = validateUsage(Usage.fromPartial(event.usage ?? {}), 'usage');
    const occurredAt = event.occurredAtMs || now;
    const table = await this.prices.at(occurredAt);
    const costMicros = chargeFor(table, event.model, usage) ?? 0;
    const { infrastructureMicros, trainingMicros } = eventCost(table, event.model, usage);
    const row = {
      event_id: event.eventId,
      request_id: event.requestId,
      tenant_id: event.tenantId,
      api_key_id: event.apiKeyId,
      service: event.service,
      model: event.model,
      modality: event.modality,
      prompt_tokens: usage.promptTokens,
      completion_tokens: usage.completionTokens,
      images: usage.images,
      steps: usage.steps,
      pixels: usage.pixels,
      audio_seconds: usage.audioSeconds,
      characters: usage.characters,
      compute_ms: usage.computeMs,
      reservation_id: event.reservationId,
      occurred_at_ms: occurredAt,
      recorded_at_ms: now,
      stream_seq: streamSeq,
      cost_micros: costMicros,
      infrastructure_micros: infrastructureMicros,
      training_micros: trainingMicros,
      price_version: table.version,
    };
    return this.db.transaction(async (tx) => {
      const added =
        (await tx.run(`INSERT INTO usage_events (${Object.keys(row).join(', ')}) VALUES (${Object.keys(row).map(() => '?').join(', ')}) ON CONFLICT (event_id) DO NOTHING`, Object.values(row))) === 1;
      if (added && !event.reservationId && event.tenantId && costMicros > 0) {
        const scope = (await lockScopes(tx, [`tenant:${event.tenantId}`], false)).get(`tenant:${event.tenantId}`);
        if (scope) {
          roll(scope, now);
          scope.daySpentMicros += costMicros;
          scope.monthSpentMicros += costMicros;
          await saveScope(tx, scope);
        }
      }
      return added;
    });
  }

  /** Events filtered by request id or tenant (newest first), or the latest recorded. */
  async list(filter: LedgerFilter): Promise<LedgerEntry[]> {
    const limit = Math.min(filter.limit || 100, 1000);
    const rows = await this.db.read((tx) =>
      filter.requestId
        ? tx.all('SELECT * FROM usage_events WHERE request_id = ? ORDER BY occurred_at_ms, event_id LIMIT ?', [filter.requestId, limit])
        : filter.tenantId
          ? tx.all('SELECT * FROM usage_events WHERE tenant_id = ? ORDER BY occurred_at_ms DESC, event_id LIMIT ?', [filter.tenantId, limit])
          : tx.all('SELECT * FROM usage_events ORDER BY recorded_at_ms DESC, event_id LIMIT ?', [limit]),
    );
    return rows.map(toEntry);
  }

  /** Counts and sums over every event in the ledger. */
  async totals(): Promise<LedgerTotals> {
    const row = await this.db.read((tx) =>
      tx.one(
        'SELECT COUNT(*) AS events, COALESCE(SUM(prompt_tokens), 0) AS prompt, COALESCE(SUM(completion_tokens), 0) AS completion, COALESCE(SUM(cost_micros), 0) AS cost FROM usage_events',
      ),
    );
    return { events: num(row?.events), promptTokens: num(row?.prompt), completionTokens: num(row?.completion), costMicros: num(row?.cost) };
  }
}

function toEntry(r: SqlRow): LedgerEntry {
  return {
    eventId: str(r.event_id),
    costMicros: num(r.cost_micros),
    recordedAtMs: num(r.recorded_at_ms),
    infrastructureMicros: num(r.infrastructure_micros),
    trainingMicros: num(r.training_micros),
    priceVersion: num(r.price_version),
    event: UsageEvent.fromPartial({
      eventId: str(r.event_id),
      requestId: str(r.request_id),
      tenantId: str(r.tenant_id),
      apiKeyId: str(r.api_key_id),
      service: str(r.service),
      model: str(r.model),
      modality: num(r.modality),
      reservationId: str(r.reservation_id),
      occurredAtMs: num(r.occurred_at_ms),
      usage: {
        promptTokens: num(r.prompt_tokens),
        completionTokens: num(r.completion_tokens),
        images: num(r.images),
        steps: num(r.steps),
        pixels: num(r.pixels),
        audioSeconds: num(r.audio_seconds),
        characters: num(r.characters),
        computeMs: num(r.compute_ms),
      },
    }),
  };
}
