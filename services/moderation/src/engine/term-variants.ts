/**
 * The forms a term is matched in: its normalized form, and for Chinese terms their pinyin and
 * pinyin initials (`法轮功` is also found as `falungong` and `flg`), the commonest way to write a
 * Chinese term past a filter.
 */
import { pinyin } from 'pinyin-pro';

/** How a matched pattern relates to its term. */
export type VariantKind = 'term' | 'pinyin' | 'initials';

/** One spelling of a term, before normalization. */
export interface TermVariant {
  kind: VariantKind;
  text: string;
}

const ALL_HAN = /^\p{Script=Han}+$/u;
const cache = new Map<string, TermVariant[]>();

/**
 * Spellings of `term`: itself, plus pinyin for an all-Han term of two or more characters, plus
 * initials for one of two or more characters. Cached per term across lexicon rebuilds, since
 * computing pinyin is the slowest part of building an index.
 */
export function termVariants(term: string): TermVariant[] {
  const known = cache.get(term);
  if (known) return known;
  const variants: TermVariant[] = [{ kind: 'term', text: term }];
  const chars = [...term];
  if (chars.length >= 2 && ALL_HAN.test(term)) {
    const syllables = pinyin(term, { toneType: 'none', type: 'array', v: false }) as string[];
    if (syllables.length === chars.length && syllables.every((s) => /^[a-zü]+$/.test(s))) {
      variants.push({ kind: 'pinyin', text: syllables.join('') });
      // Two letters stand for hundreds of terms each: list such abbreviations (`sb`) as terms instead.
      if (chars.length >= 3) variants.push({ kind: 'initials', text: syllables.map((s) => s[0]).join('') });
    }
  }
  if (cache.size > 500_000) cache.clear();
  cache.set(term, variants);
  return variants;
}
