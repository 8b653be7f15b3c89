/**
 * The compiled sensitive-word library: an Aho-Corasick automaton over normalized code points with
 * its transitions in one hash table ({@link EdgeTable}). Built once per lexicon version and never
 * changed afterwards, so a new version is swapped in with one assignment and in-flight scans keep
 * the index they started with.
 */
import { EdgeTable } from './edge-table.js';
import { termVariants, type VariantKind } from './term-variants.js';
import { BREAK_BEFORE, SOFT, TextNormalizer, type NormalizedText } from './text-normalizer.js';

/** One entry of the lexicon. */
export interface LexiconTerm {
  term: string;
  category: string;
  /** 1 (mild) to 5 (severe). */
  severity: number;
  /** An allowlisted term is never reported and hides listed terms inside it (`Scunthorpe`). */
  allow: boolean;
}

/** A listed term found in a text. */
export interface LexiconMatch {
  readonly term: LexiconTerm;
  /** UTF-16 offsets in the original text. */
  readonly start: number;
  readonly end: number;
  /** Which spelling matched: the term itself or its pinyin. */
  readonly via: VariantKind;
}

/** Options of {@link LexiconIndex.scan}. */
export interface ScanOptions {
  /** Most matches reported (default 1000); scanning stops after that. */
  limit?: number;
}

interface Pattern {
  entry: number;
  length: number;
  /** Run lengths the text must cover; null when every run is 1 (always covered). */
  runs: Uint16Array | null;
  latin: boolean;
  kind: VariantKind;
}

/** See the module comment. Build with {@link LexiconIndex.build}. */
export class LexiconIndex {
  /** Wall time the build took, in milliseconds. */
  readonly buildMs: number;

  private constructor(
    readonly terms: readonly LexiconTerm[],
    private readonly normalizer: TextNormalizer,
    private readonly edges: EdgeTable,
    private readonly fail: Int32Array,
    /** Nearest node on the failure chain that ends a pattern (-1: none). */
    private readonly dictLink: Int32Array,
    /** First pattern ending at a node (-1: none). */
    private readonly patternHead: Int32Array,
    private readonly patternNext: Int32Array,
    private readonly patterns: readonly Pattern[],
    buildMs: number,
  ) {
    this.buildMs = buildMs;
  }

  /** Bytes held by the automaton's arrays (the terms themselves not counted). */
  get bytes(): number {
    return this.edges.bytes + this.fail.byteLength * 3 + this.patternNext.byteLength;
  }

  /** Compiles `terms`; terms that normalize to nothing are skipped (validate them beforehand). */
  static build(terms: readonly LexiconTerm[], normalizer = new TextNormalizer()): LexiconIndex {
    const began = performance.now();
    const patterns: Pattern[] = [];
    const edges = new EdgeTable(terms.length * 8);
    let nodeCount = 1;
    let ends: number[] = [];
    for (let e = 0; e < terms.length; e++) {
      const entry = terms[e]!;
      for (const variant of termVariants(entry.term)) {
        const norm = normalizer.normalize(variant.text);
        if (norm.length === 0) continue;
        let node = 0;
        let latin = true;
        for (let i = 0; i < norm.length; i++) {
          const cp = norm.codes[i]!;
          if (!((cp >= 0x61 && cp <= 0x7a) || (cp >= 0x30 && cp <= 0x39))) latin = false;
          let next = edges.get(node, cp);
          if (next < 0) {
            next = nodeCount++;
            edges.set(node, cp, next);
          }
          node = next;
        }
        const runs = norm.runs.slice(0, norm.length);
        const plain = runs.every((r) => r === 1);
        patterns.push({ entry: e, length: norm.length, runs: plain ? null : runs, latin, kind: variant.kind });
        ends.push(node);
      }
    }
    const patternHead = new Int32Array(nodeCount).fill(-1);
    const patternNext = new Int32Array(patterns.length).fill(-1);
    for (let p = patterns.length - 1; p >= 0; p--) {
      const node = ends[p]!;
      patternNext[p] = patternHead[node]!;
      patternHead[node] = p;
    }
    ends = [];
    const { fail, dictLink } = linkFailures(edges, nodeCount, patternHead);
    return new LexiconIndex(terms, normalizer, edges, fail, dictLink, patternHead, patternNext, patterns, performance.now() - began);
  }

  /** Every listed (not allowlisted) term in `text`, in order of end position. */
  scan(text: string | NormalizedText, options: ScanOptions = {}): LexiconMatch[] {
    const limit = options.limit ?? 1000;
    const t = typeof text === 'string' ? this.normalizer.normalize(text) : text;
    return resolveMatches(t, [this.collect(t, limit)], limit);
  }

  /** Normalizes with the normalizer this index was built with. */
  normalize(text: string): NormalizedText {
    return this.normalizer.normalize(text);
  }

  /**
   * Raw hits in normalized positions: listed terms and allowlisted spans, before the allowlist is
   * applied. {@link resolveMatches} combines the hits of several indexes (a base and its delta).
   */
  collect(t: NormalizedText, limit: number, skip?: ReadonlySet<string>): Hits {
    const { codes, runs, flags } = t;
    const n = t.length;
    const { edges, fail, dictLink, patternHead, patternNext, patterns, terms } = this;
    const hits: Hits = { found: [], allowed: [] };
    let node = 0;
    for (let i = 0; i < n; i++) {
      const cp = codes[i]!;
      let next = edges.get(node, cp);
      while (next < 0 && node !== 0) {
        node = fail[node]!;
        next = edges.get(node, cp);
      }
      node = next < 0 ? 0 : next;
      let out = patternHead[node]! >= 0 ? node : dictLink[node]!;
      while (out > 0) {
        // Patterns ending at one node share their code points, so length and script are checked once.
        const first = patterns[patternHead[out]!]!;
        const s = i - first.length + 1;
        if (!first.latin || latinBounded(flags, s, i, n)) {
          for (let p = patternHead[out]!; p >= 0; p = patternNext[p]!) {
            const pat = patterns[p]!;
            if (pat.runs !== null && !runsCover(runs, s, pat.runs)) continue;
            const term = terms[pat.entry]!;
            if (skip !== undefined && skip.has(term.term)) continue;
            if (term.allow) hits.allowed.push(s, i);
            else hits.found.push({ term, s, e: i, via: pat.kind });
          }
        }
        out = dictLink[out]!;
      }
      if (hits.found.length >= limit * 4) break;
    }
    return hits;
  }
}

/** Raw hits of {@link LexiconIndex.collect}, in normalized positions. */
export interface Hits {
  found: Array<{ term: LexiconTerm; s: number; e: number; via: VariantKind }>;
  /** Pairs (start, end) of allowlisted spans. */
  allowed: number[];
}

/**
 * Applies the allowlist of every part to the listed terms of every part, removes duplicates and
 * maps positions back to the original text.
 */
export function resolveMatches(t: NormalizedText, parts: readonly Hits[], limit: number): LexiconMatch[] {
  const allowed: number[] = [];
  for (const part of parts) for (const a of part.allowed) allowed.push(a);
  const out: LexiconMatch[] = [];
  const seen = new Set<string>();
  for (const part of parts) {
    for (const f of part.found) {
      let hidden = false;
      for (let k = 0; k < allowed.length && !hidden; k += 2) hidden = allowed[k]! <= f.s && f.e <= allowed[k + 1]!;
      if (hidden) continue;
      const key = `${f.term.term}\u0000${f.s}:${f.e}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ term: f.term, start: t.starts[f.s]!, end: t.ends[f.e]!, via: f.via });
      if (out.length >= limit) return out.sort(byPosition);
    }
  }
  return out.sort(byPosition);
}

const byPosition = (a: LexiconMatch, b: LexiconMatch): number => a.end - b.end || a.start - b.start;

/** True when the text's runs at `s..` are at least the pattern's (`asss` covers `ass`, `as` does not). */
function runsCover(runs: Uint16Array, s: number, want: Uint16Array): boolean {
  for (let k = 0; k < want.length; k++) if (runs[s + k]! < want[k]!) return false;
  return true;
}

/** A Latin pattern must start and end at word breaks, so `ass` is not found in `class`. */
function latinBounded(flags: Uint8Array, s: number, e: number, n: number): boolean {
  const startOk = (flags[s]! & BREAK_BEFORE) !== 0 || (s > 0 && (flags[s - 1]! & SOFT) !== 0);
  if (!startOk) return false;
  return e + 1 >= n || (flags[e + 1]! & (BREAK_BEFORE | SOFT)) !== 0;
}

/** Breadth-first failure links and dictionary-suffix links of the Aho-Corasick automaton. */
function linkFailures(edges: EdgeTable, nodeCount: number, patternHead: Int32Array): { fail: Int32Array; dictLink: Int32Array } {
  // Children lists come from the edge table: rebuild them as (first child, next sibling, code point).
  const firstChild = new Int32Array(nodeCount).fill(-1);
  const nextSibling = new Int32Array(nodeCount).fill(-1);
  const viaCp = new Int32Array(nodeCount);
  edges.forEach((parent, cp, child) => {
    viaCp[child] = cp;
    nextSibling[child] = firstChild[parent]!;
    firstChild[parent] = child;
  });
  const fail = new Int32Array(nodeCount);
  const dictLink = new Int32Array(nodeCount).fill(-1);
  const queue = new Int32Array(nodeCount);
  let head = 0;
  let tail = 0;
  for (let c = firstChild[0]!; c >= 0; c = nextSibling[c]!) {
    fail[c] = 0;
    queue[tail++] = c;
  }
  while (head < tail) {
    const u = queue[head++]!;
    for (let v = firstChild[u]!; v >= 0; v = nextSibling[v]!) {
      const cp = viaCp[v]!;
      let f = fail[u]!;
      let target = edges.get(f, cp);
      while (target < 0 && f !== 0) {
        f = fail[f]!;
        target = edges.get(f, cp);
      }
      fail[v] = target < 0 || target === v ? 0 : target;
      const fv = fail[v]!;
      dictLink[v] = patternHead[fv]! >= 0 ? fv : dictLink[fv]!;
      queue[tail++] = v;
    }
  }
  return { fail, dictLink };
}
