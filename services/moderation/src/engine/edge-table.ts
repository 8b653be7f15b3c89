/**
 * The transitions of a trie as one open-addressing hash table in a single typed array: key
 * (node, code point), value child node, the three stored side by side so that a lookup touches one
 * cache line. Transitions out of the root, the most frequent after a failure, use a dense table
 * for the BMP. One flat table keeps a trie of millions of nodes out of the garbage collector's way.
 */
export class EdgeTable {
  /** Triples (node + 1, code point, child); node + 1 = 0 marks an empty slot. */
  private slots: Int32Array;
  private readonly root = new Int32Array(0x10000).fill(-1);
  private mask: number;
  private shift: number;
  private used = 0;

  constructor(expected = 1024) {
    let cap = 1024;
    while (cap < expected * 2) cap *= 2;
    this.slots = new Int32Array(cap * 3);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
  }

  /** Edges stored. */
  get size(): number {
    return this.used;
  }

  /** Bytes held by the table's arrays. */
  get bytes(): number {
    return this.slots.byteLength + this.root.byteLength;
  }

  /** The child of `node` along `cp`, or -1. */
  get(node: number, cp: number): number {
    if (node === 0 && cp < 0x10000) return this.root[cp]!;
    const slots = this.slots;
    const key = node + 1;
    let slot = Math.imul(node ^ Math.imul(cp, 0x85ebca77), 0x9e3779b1) >>> this.shift;
    for (;;) {
      const at = slot * 3;
      const k = slots[at]!;
      if (k === 0) return -1;
      if (k === key && slots[at + 1] === cp) return slots[at + 2]!;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Stores the edge `node --cp--> child` (the pair must not be present yet). */
  set(node: number, cp: number, child: number): void {
    if (node === 0 && cp < 0x10000) this.root[cp] = child;
    if ((this.used + 1) * 2 > this.mask + 1) this.rehash((this.mask + 1) * 2);
    this.insert(node, cp, child);
    this.used++;
  }

  /** Calls `fn` for every stored edge. */
  forEach(fn: (node: number, cp: number, child: number) => void): void {
    const slots = this.slots;
    for (let at = 0; at < slots.length; at += 3) if (slots[at] !== 0) fn(slots[at]! - 1, slots[at + 1]!, slots[at + 2]!);
  }

  private insert(node: number, cp: number, child: number): void {
    let slot = Math.imul(node ^ Math.imul(cp, 0x85ebca77), 0x9e3779b1) >>> this.shift;
    while (this.slots[slot * 3] !== 0) slot = (slot + 1) & this.mask;
    const at = slot * 3;
    this.slots[at] = node + 1;
    this.slots[at + 1] = cp;
    this.slots[at + 2] = child;
  }

  private rehash(cap: number): void {
    const old = this.slots;
    this.slots = new Int32Array(cap * 3);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    for (let at = 0; at < old.length; at += 3) if (old[at] !== 0) this.insert(old[at]! - 1, old[at + 1]!, old[at + 2]!);
  }
}
