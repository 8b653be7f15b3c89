import {
  CheckRequest,
  CheckStage,
  Modality,
  ModerationMode,
  ReleaseReason,
  Verdict,
  type BillingServiceClient,
  type ModerationServiceClient,
  type Usage,
} from '@aigc/proto';
import { callUnary, ServiceError, Status, type Logger } from '@aigc/runtime';
import { Histogram, type Registry } from 'prom-client';
import type { Caller } from '../authenticator.js';
import type { Estimate } from './estimate.js';

/** What one request asks admission for. */
export interface AdmissionRequest {
  caller: Caller;
  requestId: string;
  model: string;
  modality: Modality;
  estimate: Estimate;
  /** Input text to pre-filter through moderation before any model runs; omitted for moderation calls. */
  screen?: string;
  signal?: AbortSignal;
  deadline?: Date;
}

/** Rate-limit state after a reservation, for `x-ratelimit-*` headers. */
export interface RateState {
  limitRequests: number;
  remainingRequests: number;
  limitTokens: number;
  remainingTokens: number;
  resetMs: number;
}

/** An admitted request: its reservation, to settle with measured usage or give back. */
export interface Ticket {
  readonly reservationId: string;
  readonly rate: RateState;
  /**
   * Charges the measured usage; the reservation is the cap. Runs off the response's path (the
   * caller does not wait for billing); {@link Admission.drain} waits for it at shutdown. Never throws.
   */
  settle(usage: Partial<Usage> | undefined): void;
  /**
   * Ends a request that failed. Work that was refused before it ran is released; work that was
   * cancelled or timed out may have run, so its hold is left for billing to settle from the
   * ledger's usage events (or release if none came). Never throws.
   */
  fail(error: unknown): Promise<void>;
}

/** Options of {@link Admission}. */
export interface AdmissionOptions {
  billing: BillingServiceClient;
  moderation: ModerationServiceClient;
  logger: Logger;
  registry: Registry;
  /** Pre-filter inputs through moderation (level 1 of quality control). */
  prefilter: boolean;
  /** Longest a hold may stay open if the gateway never settles it. */
  reservationTtlMs: number;
}

const SETTLE_TIMEOUT_MS = 5_000;

/**
 * Admission of one request, in the order that keeps both safety and budgets exact: the input is
 * pre-filtered by moderation (a blocked input costs nothing), then billing reserves the
 * worst-case cost atomically against the key's and tenant's limits and budgets (which therefore
 * hold across any number of gateway replicas), and the request runs under that reservation.
 */
export class Admission {
  private readonly seconds: Histogram<'step'>;
  private readonly settling = new Set<Promise<void>>();

  constructor(private readonly options: AdmissionOptions) {
    this.seconds = new Histogram({
      name: 'gateway_admission_seconds',
      help: 'Time of each admission step the gateway waits for, by step (prefilter, reserve, settle, release).',
      labelNames: ['step'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [options.registry],
    });
  }

  /** Waits for the settlements still in flight (at shutdown, before billing's client closes). */
  async drain(): Promise<void> {
    await Promise.all([...this.settling]);
  }

  async admit(request: AdmissionRequest): Promise<Ticket> {
    const call = { signal: request.signal, deadline: request.deadline };
    if (this.options.prefilter && request.screen !== undefined && request.screen.length > 0) {
      const stop = this.seconds.startTimer({ step: 'prefilter' });
      const verdict = await callUnary(
        this.options.moderation,
        'check',
        CheckRequest.fromPartial({ text: request.screen, stage: CheckStage.CHECK_STAGE_INPUT, mode: ModerationMode.MODERATION_MODE_BLOCK }),
        call,
      ).finally(stop);
      if (verdict.verdict === Verdict.VERDICT_BLOCK) {
        throw new ServiceError(Status.INVALID_ARGUMENT, `input rejected by content policy: ${verdict.reason || 'blocked'}`, {
          metadata: { 'aigc-moderation': 'blocked' },
        });
      }
    }
    const stop = this.seconds.startTimer({ step: 'reserve' });
    const reserved = await callUnary(
      this.options.billing,
      'reserve',
      {
        apiKeyId: request.caller.apiKeyId,
        requestId: request.requestId,
        model: request.model,
        modality: request.modality,
        estimate: { images: 0, steps: 0, pixels: 0, audioSeconds: 0, characters: 0, computeMs: 0, promptTokens: 0, completionTokens: 0, ...request.estimate },
        ttlMs: this.options.reservationTtlMs,
      },
      call,
    ).finally(stop);
    return this.ticket(reserved.reservationId, {
      limitRequests: request.caller.requestsPerMinute,
      remainingRequests: reserved.remainingRequests,
      limitTokens: request.caller.tokensPerMinute,
      remainingTokens: reserved.remainingTokens,
      resetMs: reserved.resetMs,
    });
  }

  private ticket(reservationId: string, rate: RateState): Ticket {
    let closed = false;
    const once = async (step: 'settle' | 'release', fn: () => Promise<unknown>): Promise<void> => {
      if (closed) return;
      closed = true;
      const stop = this.seconds.startTimer({ step });
      try {
        await fn();
      } catch (err) {
        // The hold is not lost: billing's sweeper closes it from the ledger when its TTL passes.
        this.options.logger.warn(`${step} failed; billing will close the reservation when it expires`, { reservation_id: reservationId, error: err });
      } finally {
        stop();
      }
    };
    const deadline = () => new Date(Date.now() + SETTLE_TIMEOUT_MS);
    return {
      reservationId,
      rate,
      settle: (usage) => {
        const settled = once('settle', () =>
          callUnary(this.options.billing, 'settle', { reservationId, usage: usage ? { images: 0, steps: 0, pixels: 0, audioSeconds: 0, characters: 0, computeMs: 0, promptTokens: 0, completionTokens: 0, ...usage } : undefined }, { deadline: deadline() }),
        );
        this.settling.add(settled);
        void settled.finally(() => this.settling.delete(settled));
      },
      fail: async (error) => {
        const code = ServiceError.from(error).code;
        if (code === Status.CANCELLED || code === Status.DEADLINE_EXCEEDED) {
          closed = true;
          return;
        }
        await once('release', () => callUnary(this.options.billing, 'release', { reservationId, reason: ReleaseReason.RELEASE_REASON_FAILED }, { deadline: deadline() }));
      },
    };
  }
}
