/**
 * Per-sequence KV caches for the standard export layout (`past_key_values.N.key/value`, float32
 * `[batch, kv_heads, past, head_dim]`), kept in the executor's worker thread beside the session
 * (decoder-worker.ts), so a step moves token ids and logits across threads, never caches.
 *
 * Caches live in blocks: per layer's key and value one buffer of `[rows, kvHeads, capacity,
 * headDim]`. A sequence owns one row; its n cached positions are slots [0, n) of that row and the
 * rest of the row is free. A forward pass runs over the first B rows of one block as they lie: the
 * past is `[B, kvHeads, capacity, headDim]`, `attention_mask` is 1 on each row's [0, n) and 0 on
 * its free slots (attention does not care where a key sits, only whether it is masked;
 * `position_ids` carry the true positions), and afterwards the pass's new keys and values are
 * written into slots [n, n + tokens) of each row, in place. So a step copies no cache: a row is
 * copied only when its sequence moves to another pass's block (joins decoding after prefill, or
 * changes length group) or when a block grows or shrinks its capacity (in steps of
 * {@link CAPACITY_STEP} slots). What a pass still pays for is its block's free slots: attention
 * runs over B x capacity positions, masked or not (and, for a graph that decoder-graph.ts could
 * not rewrite, so does the graph's own concatenation of past and new).
 */

/** Geometry of a decoder's cache, read from the ONNX graph. */
export interface CacheGeometry {
  layers: number;
  kvHeads: number;
  headDim: number;
}

/** Bytes one cached position takes (keys and values of every layer). */
export function bytesPerToken(g: CacheGeometry): number {
  return g.layers * 2 * g.kvHeads * g.headDim * 4;
}

/** Reads the cache geometry from a decoder's ONNX inputs; undefined when it has no KV-cache inputs. */
export function cacheGeometryOf(inputs: readonly { name: string; dims: readonly (number | string)[] }[]): CacheGeometry | undefined {
  const keys = inputs.filter((i) => /^past_key_values\.\d+\.key$/.test(i.name));
  if (keys.length === 0) return undefined;
  const first = inputs.find((i) => i.name === 'past_key_values.0.key');
  const kvHeads = first?.dims[1];
  const headDim = first?.dims[3];
  if (typeof kvHeads !== 'number' || typeof headDim !== 'number') return undefined;
  return { layers: keys.length, kvHeads, headDim };
}

/** A block's capacity grows and shrinks in steps of this many slots (each change copies the block). */
export const CAPACITY_STEP = 16;

/**
 * Empty blocks kept for reuse (at most this many bytes), so that a step does not allocate, zero
 * and page in fresh buffers; a pooled block takes any shape its buffers are large enough for.
 */
const POOLED_BYTES = 64 * 2 ** 20;

/** Rows of caches with one slot capacity: per tensor `[rowCapacity, kvHeads, capacity, headDim]`. */
export class KvBlock {
  /** Per layer: key, value. */
  readonly data: Float32Array[];
  /** Cache ids of rows [0, ids.length); rows are always packed from 0. */
  readonly ids: number[] = [];
  /** Slots per row, and rows the buffers hold at that capacity. */
  capacity = 0;
  rowCapacity = 0;

  constructor(
    /** Floats per tensor buffer. */
    readonly floats: number,
    tensors: number,
  ) {
    this.data = Array.from({ length: tensors }, () => new Float32Array(floats));
  }
}

interface Slot {
  block: KvBlock;
  row: number;
  length: number;
}

/** Where a pass's rows lie: rows [0, B) of `block`, pass row `order[b]` in row b. */
export interface PassLayout {
  block: KvBlock;
  /** The pass row (index into the ids given) that each block row holds. */
  order: number[];
  /** Cached positions of each block row before the pass. */
  lengths: number[];
}

/** Counters of the copies the store made, for benchmarks and tests. */
export interface KvCacheStats {
  /** Floats copied to move rows between blocks or re-lay blocks. */
  copiedFloats: number;
  /** Rows moved into another block. */
  rowMoves: number;
  /** Blocks re-laid because their capacity changed. */
  relayouts: number;
}

/** Caches of the sequences a worker serves; see the module comment. */
export class KvCacheStore {
  private readonly slots = new Map<number, Slot>();
  private readonly blocks = new Set<KvBlock>();
  private readonly pool: KvBlock[] = [];
  private readonly tensors: number;
  readonly stats: KvCacheStats = { copiedFloats: 0, rowMoves: 0, relayouts: 0 };

  constructor(readonly geometry: CacheGeometry) {
    this.tensors = geometry.layers * 2;
  }

  /** Sequences with a cache. */
  get size(): number {
    return this.slots.size;
  }

  /** Blocks in use (for tests and stats). */
  get blockCount(): number {
    return this.blocks.size;
  }

  /** Cached positions of sequence `id` (0 when it has none). */
  lengthOf(id: number): number {
    return this.slots.get(id)?.length ?? 0;
  }

  /** Frees sequence `id`'s cache (its row goes to the block's last row's sequence). */
  release(id: number): void {
    const slot = this.slots.get(id);
    if (!slot) return;
    this.slots.delete(id);
    this.removeRow(slot.block, slot.row);
  }

  /**
   * Puts the sequences `ids` into rows [0, ids.length) of one block whose capacity holds every
   * row's cache plus its `tokens[i]` new positions, moving as few rows as it can: the block
   * already holding most of them stays, the others are copied in, and rows of sequences not in
   * this pass are swapped past the pass's rows. A sequence without a cache gets an empty row.
   */
  layout(ids: readonly number[], tokens: readonly number[]): PassLayout {
    const B = ids.length;
    const inPass = new Set(ids);
    let need = 0;
    for (let i = 0; i < B; i++) need = Math.max(need, this.lengthOf(ids[i]!) + tokens[i]!);
    const capacity = Math.ceil(need / CAPACITY_STEP) * CAPACITY_STEP;

    // The base block: the one holding most of the pass, unless the pass is its minority.
    const count = new Map<KvBlock, number>();
    for (const id of ids) {
      const slot = this.slots.get(id);
      if (slot) count.set(slot.block, (count.get(slot.block) ?? 0) + 1);
    }
    let base: KvBlock | undefined;
    let best = 0;
    for (const [block, n] of count) {
      if (n > best && n * 2 >= block.ids.length) {
        base = block;
        best = n;
      }
    }
    if (base) {
      // Others in the block keep their slots: the capacity must hold them too.
      let keep = capacity;
      for (const id of base.ids) keep = Math.max(keep, Math.ceil(this.lengthOf(id) / CAPACITY_STEP) * CAPACITY_STEP);
      const rows = base.ids.length + (B - best);
      const shrink = base.capacity > keep + 2 * CAPACITY_STEP;
      if (base.capacity < keep || shrink || base.rowCapacity < rows) base = this.relayout(base, keep, rows);
    } else {
      base = this.allocate(B, capacity);
    }

    // Joiners: copied in at the end.
    for (const id of ids) {
      const slot = this.slots.get(id);
      if (slot?.block === base) continue;
      const row = base.ids.length;
      base.ids.push(id);
      if (slot) {
        this.copyRow(slot.block, slot.row, base, row, slot.length);
        this.stats.rowMoves++;
        this.removeRow(slot.block, slot.row);
      }
      this.slots.set(id, { block: base, row, length: slot?.length ?? 0 });
    }
    // Rows [0, B) must be the pass: swap out any other sequence there with a pass row beyond B.
    let far = B;
    for (let row = 0; row < B; row++) {
      if (inPass.has(base.ids[row]!)) continue;
      while (!inPass.has(base.ids[far]!)) far++;
      this.swapRows(base, row, far);
    }
    const at = new Map(ids.map((id, i) => [id, i]));
    const order = base.ids.slice(0, B).map((id) => at.get(id)!);
    return { block: base, order, lengths: order.map((i) => this.lengthOf(ids[i]!)) };
  }

  /**
   * Writes a pass's new keys and values into its rows: `source[t]` is `[B, kvHeads, stride,
   * headDim]` with block row b's new positions at [offset, offset + tokens[b]) (the graph's new
   * key/value, or the tail of its present output), appended after each row's cache.
   */
  append(layout: PassLayout, source: readonly Float32Array[], stride: number, offset: number, tokens: readonly number[]): void {
    const { kvHeads: H, headDim: D } = this.geometry;
    const block = layout.block;
    const cap = block.capacity;
    for (let b = 0; b < layout.order.length; b++) {
      const slot = this.slots.get(block.ids[b]!)!;
      const n = slot.length;
      const t = tokens[b]!;
      if (n + t > cap) throw new Error(`cache row overflow: ${n} + ${t} > ${cap}`);
      const count = t * D;
      for (let k = 0; k < this.tensors; k++) {
        const src = source[k]!;
        const dst = block.data[k]!;
        for (let h = 0; h < H; h++) {
          const from = ((b * H + h) * stride + offset) * D;
          const to = ((b * H + h) * cap + n) * D;
          // A decode step appends one position (headDim floats): a plain loop beats subarray + set.
          if (count <= 256) for (let e = 0; e < count; e++) dst[to + e] = src[from + e]!;
          else dst.set(src.subarray(from, from + count), to);
        }
      }
      slot.length = n + t;
    }
  }

  /** A new or pooled block for at least `rows` rows of `capacity` slots. */
  private allocate(rows: number, capacity: number): KvBlock {
    const { kvHeads: H, headDim: D } = this.geometry;
    const rowFloats = H * capacity * D;
    const needed = Math.max(4, rows) * rowFloats;
    let at = -1;
    this.pool.forEach((b, i) => {
      if (b.floats >= needed && (at < 0 || b.floats < this.pool[at]!.floats)) at = i;
    });
    // New buffers are sized in powers of two, so that they fit the next shapes too.
    const block = at >= 0 ? this.pool.splice(at, 1)[0]! : new KvBlock(2 ** Math.ceil(Math.log2(needed)), this.tensors);
    block.capacity = capacity;
    block.rowCapacity = Math.floor(block.floats / rowFloats);
    this.blocks.add(block);
    return block;
  }

  /** Moves every row of `block` into a new block of `capacity` slots and room for `rows` rows. */
  private relayout(block: KvBlock, capacity: number, rows: number): KvBlock {
    const next = this.allocate(Math.max(rows, block.ids.length), capacity);
    block.ids.forEach((id, row) => {
      const slot = this.slots.get(id)!;
      this.copyRow(block, row, next, row, slot.length);
      next.ids.push(id);
      slot.block = next;
    });
    block.ids.length = 0;
    this.retire(block);
    this.stats.relayouts++;
    return next;
  }

  /** Copies the first `length` slots of a row (every layer and head). */
  private copyRow(from: KvBlock, fromRow: number, to: KvBlock, toRow: number, length: number): void {
    if (length === 0) return;
    const { kvHeads: H, headDim: D } = this.geometry;
    for (let k = 0; k < this.tensors; k++) {
      const src = from.data[k]!;
      const dst = to.data[k]!;
      for (let h = 0; h < H; h++) {
        const s = (fromRow * H + h) * from.capacity * D;
        dst.set(src.subarray(s, s + length * D), (toRow * H + h) * to.capacity * D);
      }
    }
    this.stats.copiedFloats += this.tensors * H * length * D;
  }

  /** Removes a row, moving the block's last row into it (rows stay packed). */
  private removeRow(block: KvBlock, row: number): void {
    const last = block.ids.length - 1;
    if (row !== last) {
      const moved = block.ids[last]!;
      const slot = this.slots.get(moved)!;
      this.copyRow(block, last, block, row, slot.length);
      slot.row = row;
      block.ids[row] = moved;
    }
    block.ids.pop();
    if (block.ids.length === 0) this.retire(block);
  }

  private swapRows(block: KvBlock, a: number, b: number): void {
    const idA = block.ids[a]!;
    const idB = block.ids[b]!;
    const slotA = this.slots.get(idA)!;
    const slotB = this.slots.get(idB)!;
    // Through a spare row at the end when there is one, else through a scratch block.
    const spare = block.ids.length < block.rowCapacity ? block : this.allocate(1, block.capacity);
    const s = spare === block ? block.ids.length : 0;
    this.copyRow(block, a, spare, s, slotA.length);
    this.copyRow(block, b, block, a, slotB.length);
    this.copyRow(spare, s, block, b, slotA.length);
    if (spare !== block) this.retire(spare);
    block.ids[a] = idB;
    block.ids[b] = idA;
    slotA.row = b;
    slotB.row = a;
  }

  /** An empty block leaves use; the pool keeps the newest up to {@link POOLED_BYTES}. */
  private retire(block: KvBlock): void {
    this.blocks.delete(block);
    if (this.pool.includes(block)) return;
    this.pool.push(block);
    let bytes = this.pool.reduce((n, b) => n + b.floats * 4 * this.tensors, 0);
    while (bytes > POOLED_BYTES && this.pool.length > 0) bytes -= this.pool.shift()!.floats * 4 * this.tensors;
  }
}
