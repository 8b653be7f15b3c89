/** The closed-loop driver shared by the in-process rows and the gRPC load process. */
import type { Usage } from '@aigc/proto';

export const usage = (n: number): Usage => ({ promptTokens: 20, completionTokens: n, images: 0, steps: 0, pixels: 0, audioSeconds: 0, characters: 0, computeMs: 0 });

export interface Measured {
  seconds: number;
  p50: number;
  p99: number;
}

/** Runs `pairs` Reserve+Settle pairs with `concurrency` in flight; latency is per pair. */
export async function drive(pairFn: (i: number) => Promise<void>, pairs: number, concurrency: number): Promise<Measured> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < pairs) {
        const i = next++;
        const s = performance.now();
        await pairFn(i);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)]!;
  return { seconds, p50: q(0.5), p99: q(0.99) };
}

