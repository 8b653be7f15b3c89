import { Histogram, type Registry } from 'prom-client';

/** What a request waits for outside the gateway. */
export type WaitPhase = 'admission' | 'upstream';

/**
 * Where one request's time went inside the gateway: waiting for admission (key lookup on a cache
 * miss, moderation pre-filter, billing reservation), waiting for the orchestrator (its response, or
 * each message of a stream), and the rest, which is the gateway's own work (parsing, validation,
 * routing, encoding, tracing). Reported to the caller as `Server-Timing` (an HTTP response header, a
 * gRPC trailer) and to Prometheus as `gateway_request_phase_seconds`.
 */
export class RequestTiming {
  private readonly startedAt = performance.now();
  private readonly waited: Record<WaitPhase, number> = { admission: 0, upstream: 0 };

  /** Awaits `work`, counting the time as a wait of `phase`. */
  async wait<T>(phase: WaitPhase, work: Promise<T>): Promise<T> {
    const t = performance.now();
    try {
      return await work;
    } finally {
      this.waited[phase] += performance.now() - t;
    }
  }

  /** Milliseconds so far: each wait, the gateway's own work, and the total. */
  phases(now = performance.now()): { admission: number; upstream: number; gateway: number; total: number } {
    const total = now - this.startedAt;
    const { admission, upstream } = this.waited;
    return { admission, upstream, gateway: Math.max(0, total - admission - upstream), total };
  }

  /** The `Server-Timing` value (W3C Server Timing: `name;dur=milliseconds`). */
  header(): string {
    const p = this.phases();
    return `admission;dur=${p.admission.toFixed(3)}, upstream;dur=${p.upstream.toFixed(3)}, gateway;dur=${p.gateway.toFixed(3)}`;
  }
}

/** The histogram of request phases, by face (`grpc`, `http`) and phase (`admission`, `upstream`, `gateway`). */
export function requestPhaseHistogram(registry: Registry): (face: 'grpc' | 'http', timing: RequestTiming) => void {
  const histogram = new Histogram({
    name: 'gateway_request_phase_seconds',
    help: "Time of each request by phase: waiting for admission, waiting for the orchestrator, and the gateway's own work.",
    labelNames: ['face', 'phase'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
    registers: [registry],
  });
  return (face, timing) => {
    const p = timing.phases();
    histogram.observe({ face, phase: 'admission' }, p.admission / 1000);
    histogram.observe({ face, phase: 'upstream' }, p.upstream / 1000);
    histogram.observe({ face, phase: 'gateway' }, p.gateway / 1000);
  };
}
