import { describe, expect, it } from 'vitest';
import { LatencyModel } from './latency-model.js';

describe('LatencyModel', () => {
  const fitted = () => {
    const m = new LatencyModel();
    for (let i = 0; i < 40; i++) for (const size of [1, 4, 8]) m.observeBatch(size, 2 + 0.5 * size);
    for (let t = 0; t <= 100; t++) m.observeArrival(t); // one request per ms
    return m;
  };

  it('fits compute time as a linear function of batch size', () => {
    const m = fitted();
    expect(m.predict(1)).toBeCloseTo(2.5, 1);
    expect(m.predict(16)).toBeCloseTo(10, 1);
    expect(m.arrivalRatePerMs()).toBeCloseTo(1, 1);
  });

  it('picks the longest delay whose batch still meets the latency target', () => {
    const m = fitted();
    // size 8: wait 7 + compute 6 = 13 <= 15; size 9 would need 8 + 6.5 = 14.5 <= 15, size 10: 9 + 7 = 16 > 15.
    expect(m.chooseDelay(15, 16, 100)).toBeCloseTo(8, 5);
    expect(m.chooseDelay(15, 16, 3)).toBe(3);
    expect(m.chooseDelay(3, 16, 100)).toBe(0);
  });

  it('does not delay before it has measured anything', () => {
    expect(new LatencyModel().chooseDelay(1000, 16, 100)).toBe(0);
  });
});
