/**
 * Raw throughput of one model call, for the benchmarks' "raw ONNX Runtime ceiling" rows: after
 * three warm-up calls, the call runs back to back for a window, and the rate is rows per second.
 */
export async function rowsPerSecond(call: () => Promise<unknown>, rows: number, windowMs = 500): Promise<number> {
  for (let i = 0; i < 3; i++) await call();
  const t0 = performance.now();
  let calls = 0;
  while (performance.now() - t0 < windowMs) {
    await call();
    calls++;
  }
  return (calls * rows * 1000) / (performance.now() - t0);
}
