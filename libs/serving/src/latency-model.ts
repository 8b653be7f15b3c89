/**
 * A measured model of batch latency and request arrivals, used by the adaptive batcher to pick
 * its queue delay: compute time is fitted as `a + b * size` by decayed least squares over recent
 * batches, and the arrival rate as a decayed average of inter-arrival gaps.
 */

/** Online fit of `computeMs ~ a + b * size` plus the request arrival rate. */
export class LatencyModel {
  private n = 0;
  private sx = 0;
  private sy = 0;
  private sxx = 0;
  private sxy = 0;
  private gapMs: number | undefined;
  private lastArrival: number | undefined;

  /** @param decay weight kept by old observations per new one (0..1); lower adapts faster. */
  constructor(private readonly decay = 0.95) {}

  /** Records one finished batch of `size` rows (or cost units) that computed for `ms`. */
  observeBatch(size: number, ms: number): void {
    const d = this.decay;
    this.n = this.n * d + 1;
    this.sx = this.sx * d + size;
    this.sy = this.sy * d + ms;
    this.sxx = this.sxx * d + size * size;
    this.sxy = this.sxy * d + size * ms;
  }

  /** Records a request arrival at `now` (ms). */
  observeArrival(now: number): void {
    if (this.lastArrival !== undefined) {
      const gap = Math.max(0, now - this.lastArrival);
      this.gapMs = this.gapMs === undefined ? gap : this.gapMs * 0.9 + gap * 0.1;
    }
    this.lastArrival = now;
  }

  /** Requests per millisecond, or 0 before two arrivals. */
  arrivalRatePerMs(): number {
    return this.gapMs === undefined ? 0 : 1 / Math.max(this.gapMs, 1e-3);
  }

  /** True once at least a few batches have been seen. */
  get calibrated(): boolean {
    return this.n >= 3;
  }

  /** Predicted compute milliseconds of a batch of `size`. */
  predict(size: number): number {
    if (this.n === 0) return 0;
    const mean = this.sy / this.n;
    const varX = this.sxx / this.n - (this.sx / this.n) ** 2;
    if (varX < 1e-9) {
      // Every batch had the same size: scale the mean per row.
      const meanX = this.sx / this.n;
      return meanX > 0 ? (mean / meanX) * size : mean;
    }
    const slope = Math.max(0, (this.sxy / this.n - (this.sx / this.n) * (this.sy / this.n)) / varX);
    const intercept = Math.max(0, mean - slope * (this.sx / this.n));
    return intercept + slope * size;
  }

  /**
   * The queue delay that lets the largest batch form whose expected wait plus compute still meets
   * `targetMs`: for batch size B, waiting for B-1 more arrivals takes (B-1)/rate. Returns 0 when
   * even a batch of one would miss the target or the model is not yet calibrated.
   */
  chooseDelay(targetMs: number, maxBatchSize: number, maxDelayMs: number): number {
    const rate = this.arrivalRatePerMs();
    if (!this.calibrated || rate <= 0) return 0;
    for (let size = maxBatchSize; size >= 2; size--) {
      const wait = (size - 1) / rate;
      if (wait + this.predict(size) <= targetMs) return Math.min(wait, maxDelayMs);
    }
    return 0;
  }
}
