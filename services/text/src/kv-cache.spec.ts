import { describe, expect, it } from 'vitest';
import { CAPACITY_STEP, KvCacheStore, type PassLayout } from './kv-cache.js';
import { seededRandom } from './token-sampler.js';

const geometry = { layers: 2, kvHeads: 2, headDim: 3 };
const TENSORS = geometry.layers * 2;
const { kvHeads: H, headDim: D } = geometry;

/** What a test stores at (sequence, position, tensor, head, element): distinct, exact in float32. */
const value = (id: number, pos: number, k: number, h: number, e: number) => (((id * 300 + pos) * TENSORS + k) * H + h) * D + e;

/** Runs one pass: lays out `ids`, checks every row's past, then appends `tokens[i]` positions each. */
function pass(store: KvCacheStore, ids: number[], tokens: number[]): PassLayout {
  const layout = store.layout(ids, tokens);
  const { block, order, lengths } = layout;
  expect(order.slice().sort((a, b) => a - b)).toEqual(ids.map((_, i) => i));
  let wrong = 0;
  order.forEach((i, b) => {
    const id = ids[i]!;
    expect(lengths[b]).toBe(store.lengthOf(id));
    expect(block.capacity).toBeGreaterThanOrEqual(lengths[b]! + tokens[i]!);
    for (let k = 0; k < TENSORS; k++) {
      for (let h = 0; h < H; h++) {
        for (let pos = 0; pos < lengths[b]!; pos++) {
          for (let e = 0; e < D; e++) if (block.data[k]![((b * H + h) * block.capacity + pos) * D + e] !== value(id, pos, k, h, e)) wrong++;
        }
      }
    }
  });
  expect(wrong).toBe(0);
  // The graph's new keys/values: [B, H, T, D] with row b's tokens at [0, tokens).
  const T = Math.max(...tokens);
  const source = Array.from({ length: TENSORS }, (_, k) => {
    const data = new Float32Array(ids.length * H * T * D).fill(-1);
    order.forEach((i, b) => {
      for (let h = 0; h < H; h++) {
        for (let j = 0; j < tokens[i]!; j++) {
          for (let e = 0; e < D; e++) data[((b * H + h) * T + j) * D + e] = value(ids[i]!, lengths[b]! + j, k, h, e);
        }
      }
    });
    return data;
  });
  store.append(
    layout,
    source,
    T,
    0,
    order.map((i) => tokens[i]!),
  );
  ids.forEach((id, i) => expect(store.lengthOf(id)).toBe(lengths[order.indexOf(i)]! + tokens[i]!));
  return layout;
}

describe('KvCacheStore', () => {
  it('keeps each cache intact while sequences join, leave, pause and change passes', () => {
    const store = new KvCacheStore(geometry);
    const random = seededRandom(11);
    const live = new Set<number>();
    let next = 1;
    for (let step = 0; step < 300; step++) {
      if (live.size < 12 && random() < 0.4) live.add(next++);
      for (const id of [...live]) {
        if (random() < 0.05 || store.lengthOf(id) > 120) {
          live.delete(id);
          store.release(id);
        }
      }
      // Some sequences sit out (paused); the rest split into up to three passes.
      const stepping = [...live].filter(() => random() < 0.85);
      const passes: number[][] = [[], [], []];
      for (const id of stepping) passes[Math.floor(random() * random() * 3)]!.push(id);
      for (const ids of passes) {
        if (ids.length === 0) continue;
        pass(store, ids, ids.map((id) => (store.lengthOf(id) === 0 ? 1 + Math.floor(random() * 20) : 1)));
      }
    }
    expect(store.stats.rowMoves).toBeGreaterThan(0);
    expect(store.stats.relayouts).toBeGreaterThan(0);
  });

  it('copies nothing while a pass keeps its rows, and one row when one joins', () => {
    const store = new KvCacheStore(geometry);
    pass(store, [1, 2, 3], [5, 9, 7]);
    const copied = store.stats.copiedFloats;
    for (let i = 0; i < 5; i++) pass(store, [3, 1, 2], [1, 1, 1]);
    expect(store.stats.copiedFloats).toBe(copied);
    // 4 was prefilled in a pass of its own; joining the decode pass moves its row (and nothing else).
    pass(store, [4], [3]);
    pass(store, [1, 2, 3, 4], [1, 1, 1, 1]);
    expect(store.stats.copiedFloats - copied).toBe(3 * TENSORS * H * D);
    expect(store.blockCount).toBe(1);
  });

  it('grows and shrinks a block in steps of CAPACITY_STEP', () => {
    const store = new KvCacheStore(geometry);
    expect(pass(store, [1], [CAPACITY_STEP]).block.capacity).toBe(CAPACITY_STEP);
    expect(pass(store, [1], [1]).block.capacity).toBe(2 * CAPACITY_STEP);
    expect(store.stats.relayouts).toBe(1);
    for (let i = 0; i < 3 * CAPACITY_STEP; i++) pass(store, [1], [1]);
    expect(pass(store, [1, 2], [1, 3]).block.capacity).toBe(5 * CAPACITY_STEP);
    // The long row leaves: the short one no longer needs the capacity.
    store.release(1);
    expect(pass(store, [2], [1]).block.capacity).toBe(CAPACITY_STEP);
    store.release(2);
    expect(store.size).toBe(0);
    expect(store.blockCount).toBe(0);
  });
});
