import type { Database } from 'better-sqlite3';
import { UsageEvent } from '@aigc/proto';

/** One row of the ledger. */
export interface LedgerRow {
  event: UsageEvent;
  recordedAtMs: number;
}

/**
 * The usage ledger: every usage event exactly once. The event id is the primary key, so a
 * redelivered or republished event is ignored rather than counted twice.
 */
export class UsageLedger {
  private readonly insert;
  private readonly byRequest;
  private readonly byTenant;
  private readonly latest;

  constructor(private readonly db: Database) {
    this.insert = db.prepare(`INSERT OR IGNORE INTO usage_events VALUES (
      @eventId, @requestId, @tenantId, @apiKeyId, @service, @model, @modality, @promptTokens, @completionTokens,
      @images, @steps, @pixels, @audioSeconds, @characters, @computeMs, @reservationId, @occurredAtMs, @recordedAtMs, @streamSeq)`);
    this.byRequest = db.prepare('SELECT * FROM usage_events WHERE request_id = ? ORDER BY occurred_at_ms LIMIT ?');
    this.byTenant = db.prepare('SELECT * FROM usage_events WHERE tenant_id = ? ORDER BY occurred_at_ms DESC LIMIT ?');
    this.latest = db.prepare('SELECT * FROM usage_events ORDER BY recorded_at_ms DESC LIMIT ?');
  }

  /** Records an event; returns false when it was already in the ledger. */
  record(event: UsageEvent, streamSeq: number): boolean {
    const u = event.usage;
    const result = this.insert.run({
      eventId: event.eventId,
      requestId: event.requestId,
      tenantId: event.tenantId,
      apiKeyId: event.apiKeyId,
      service: event.service,
      model: event.model,
      modality: event.modality,
      promptTokens: u?.promptTokens ?? 0,
      completionTokens: u?.completionTokens ?? 0,
      images: u?.images ?? 0,
      steps: u?.steps ?? 0,
      pixels: u?.pixels ?? 0,
      audioSeconds: u?.audioSeconds ?? 0,
      characters: u?.characters ?? 0,
      computeMs: u?.computeMs ?? 0,
      reservationId: event.reservationId,
      occurredAtMs: event.occurredAtMs,
      recordedAtMs: Date.now(),
      streamSeq,
    });
    return result.changes === 1;
  }

  /** Events filtered by request id or tenant (newest first), or the latest recorded. */
  list(filter: { requestId?: string; tenantId?: string; limit?: number }): LedgerRow[] {
    const limit = Math.min(filter.limit || 100, 1000);
    const rows = (filter.requestId
      ? this.byRequest.all(filter.requestId, limit)
      : filter.tenantId
        ? this.byTenant.all(filter.tenantId, limit)
        : this.latest.all(limit)) as Array<Record<string, number | string>>;
    return rows.map((r) => ({
      recordedAtMs: Number(r.recorded_at_ms),
      event: UsageEvent.fromPartial({
        eventId: String(r.event_id),
        requestId: String(r.request_id),
        tenantId: String(r.tenant_id),
        apiKeyId: String(r.api_key_id),
        service: String(r.service),
        model: String(r.model),
        modality: Number(r.modality),
        reservationId: String(r.reservation_id),
        occurredAtMs: Number(r.occurred_at_ms),
        usage: {
          promptTokens: Number(r.prompt_tokens),
          completionTokens: Number(r.completion_tokens),
          images: Number(r.images),
          steps: Number(r.steps),
          pixels: Number(r.pixels),
          audioSeconds: Number(r.audio_seconds),
          characters: Number(r.characters),
          computeMs: Number(r.compute_ms),
        },
      }),
    }));
  }
}
