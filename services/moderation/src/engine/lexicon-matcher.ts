/**
 * What the service scans with: a compiled base index plus, after small changes, a delta index of
 * the added or changed terms and the set of base terms to ignore. Applying a change of a few terms
 * to a 100,000-term lexicon then takes milliseconds instead of a full rebuild; the matcher is
 * compacted into one index once the delta grows. A matcher never changes after it is made.
 */
import { LexiconIndex, resolveMatches, type LexiconMatch, type LexiconTerm, type ScanOptions } from './lexicon-index.js';
import type { NormalizedText, TextNormalizer } from './text-normalizer.js';

/** Largest delta (added + removed terms) kept before the matcher is compacted into one index. */
export const MAX_DELTA = 5000;

/** See the module comment. */
export class LexiconMatcher {
  private constructor(
    private readonly base: LexiconIndex,
    private readonly delta: LexiconIndex | null,
    /** Base terms removed or changed since the base was built. */
    private readonly masked: ReadonlySet<string>,
    /** Every term in effect, by term. */
    readonly terms: ReadonlyMap<string, LexiconTerm>,
    /** Wall time of the last build step, in milliseconds. */
    readonly buildMs: number,
  ) {}

  /** A matcher of exactly `terms`, as one index. */
  static build(terms: Iterable<LexiconTerm>, normalizer?: TextNormalizer): LexiconMatcher {
    const map = new Map<string, LexiconTerm>();
    for (const t of terms) map.set(t.term, t);
    const base = LexiconIndex.build([...map.values()], normalizer);
    return new LexiconMatcher(base, null, new Set(), map, base.buildMs);
  }

  /** Terms in the delta (0 after a compaction). */
  get deltaSize(): number {
    return (this.delta?.terms.length ?? 0) + this.masked.size;
  }

  /**
   * A matcher of `next` (the whole new term set): a base plus delta when the difference from this
   * matcher's base is small, one fresh index otherwise.
   */
  update(next: ReadonlyMap<string, LexiconTerm>, normalizer?: TextNormalizer): LexiconMatcher {
    const began = performance.now();
    const baseTerms = new Map(this.base.terms.map((t) => [t.term, t] as const));
    const masked = new Set<string>();
    const added: LexiconTerm[] = [];
    for (const [key, term] of next) {
      const old = baseTerms.get(key);
      if (old && sameTerm(old, term)) continue;
      if (old) masked.add(key);
      added.push(term);
      if (added.length + masked.size > MAX_DELTA) return LexiconMatcher.build(next.values(), normalizer);
    }
    for (const key of baseTerms.keys()) {
      if (!next.has(key)) masked.add(key);
      if (added.length + masked.size > MAX_DELTA) return LexiconMatcher.build(next.values(), normalizer);
    }
    const delta = added.length > 0 ? LexiconIndex.build(added, normalizer) : null;
    return new LexiconMatcher(this.base, delta, masked, new Map(next), performance.now() - began);
  }

  /** The same terms as one index (used when the delta has grown, or in the background). */
  compact(normalizer?: TextNormalizer): LexiconMatcher {
    return this.deltaSize === 0 ? this : LexiconMatcher.build(this.terms.values(), normalizer);
  }

  /** Normalizes `text` the way this matcher's terms were. */
  normalize(text: string): NormalizedText {
    return this.base.normalize(text);
  }

  /** Every listed term in `text` that no allowlisted word covers, in order of position. */
  scan(text: string | NormalizedText, options: ScanOptions = {}): LexiconMatch[] {
    const limit = options.limit ?? 1000;
    const t = typeof text === 'string' ? this.base.normalize(text) : text;
    const parts = [this.base.collect(t, limit, this.masked.size > 0 ? this.masked : undefined)];
    if (this.delta) parts.push(this.delta.collect(t, limit));
    return resolveMatches(t, parts, limit);
  }
}

function sameTerm(a: LexiconTerm, b: LexiconTerm): boolean {
  return a.category === b.category && a.severity === b.severity && a.allow === b.allow;
}
