import { Status, ServiceError, unavailable } from './errors.js';

/** Options of a {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Name used in error messages, e.g. the downstream service. */
  name: string;
  /** Consecutive failures that open the circuit. */
  failureThreshold?: number;
  /** How long the circuit stays open before one trial call is let through. */
  openMs?: number;
  /** Which errors count as the downstream failing (default: UNAVAILABLE and DEADLINE_EXCEEDED from it). */
  isFailure?: (error: ServiceError) => boolean;
  now?: () => number;
}

/** closed: calls flow; open: calls fail fast; half-open: one trial call decides. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/**
 * Fails fast while a downstream keeps failing, instead of piling requests onto it. After
 * `failureThreshold` consecutive failures the circuit opens for `openMs`: calls are refused at
 * once with UNAVAILABLE and a retry hint. Then one trial call is let through; its success closes
 * the circuit, its failure opens it again. Client errors (bad input) never count as failures.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private stateValue: CircuitState = 'closed';
  private trialInFlight = false;
  private readonly threshold: number;
  private readonly openMs: number;
  private readonly isFailure: (error: ServiceError) => boolean;
  private readonly now: () => number;

  constructor(private readonly options: CircuitBreakerOptions) {
    this.threshold = options.failureThreshold ?? 5;
    this.openMs = options.openMs ?? 5_000;
    this.isFailure = options.isFailure ?? ((e) => e.code === Status.UNAVAILABLE);
    this.now = options.now ?? Date.now;
  }

  /** Current state (open turns half-open once its time is up). */
  get state(): CircuitState {
    if (this.stateValue === 'open' && this.now() - this.openedAt >= this.openMs) this.stateValue = 'half-open';
    return this.stateValue;
  }

  /** Runs `fn` through the breaker. */
  async call<T>(fn: () => Promise<T>): Promise<T> {
    const state = this.state;
    if (state === 'open' || (state === 'half-open' && this.trialInFlight)) {
      const retryAfterMs = Math.max(100, this.openMs - (this.now() - this.openedAt));
      throw unavailable(`${this.options.name} is failing; circuit open`, retryAfterMs);
    }
    const trial = state === 'half-open';
    if (trial) this.trialInFlight = true;
    try {
      const result = await fn();
      this.failures = 0;
      this.stateValue = 'closed';
      return result;
    } catch (err) {
      const error = ServiceError.from(err);
      if (this.isFailure(error)) {
        this.failures++;
        if (trial || this.failures >= this.threshold) {
          this.stateValue = 'open';
          this.openedAt = this.now();
        }
      } else if (trial) {
        this.stateValue = 'closed';
        this.failures = 0;
      }
      throw err;
    } finally {
      if (trial) this.trialInFlight = false;
    }
  }
}
