/**
 * The per-code-point folding behind {@link TextNormalizer}: every code point maps to zero, one or
 * a few normalized code points. Folding is Unicode compatibility decomposition (full/half width,
 * ligatures, circled and mathematical letters), removal of combining marks, lower case,
 * traditional -> simplified Chinese (OpenCC), homoglyphs (Cyrillic and Greek look-alikes) and
 * leetspeak; anything that is not a letter or a digit afterwards (spaces, punctuation, symbols,
 * zero-width and control characters) folds to nothing, so it can be inserted between the
 * characters of a term without hiding it.
 */
import * as OpenCC from 'opencc-js';

/** Table value: the code point folds to nothing. */
export const FOLD_SKIP = -1;
/** Table value: the code point folds to several code points (see {@link FoldTable.expansions}). */
export const FOLD_EXPAND = -2;
/** Set on a folded value that came from leetspeak (`1` -> `i`, `@` -> `a`): it also counts as a word break. */
export const FOLD_SOFT = 1 << 30;

/** Cyrillic and Greek letters that look like Latin ones (lower case, after folding case). */
const HOMOGLYPHS: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', ё: 'e', о: 'o', р: 'p', с: 'c', у: 'y', х: 'x', і: 'i', ї: 'i', ј: 'j', ѕ: 's',
  к: 'k', м: 'm', н: 'h', т: 't', ԁ: 'd', һ: 'h', ӏ: 'l', ɡ: 'g', ɑ: 'a', ı: 'i',
  ł: 'l', ø: 'o', đ: 'd', ħ: 'h', ŧ: 't', ƒ: 'f',
  α: 'a', β: 'b', ε: 'e', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x', ω: 'w', η: 'n',
};

/** Leetspeak: digits and symbols written for letters. Marked soft, see {@link FOLD_SOFT}. */
const LEET: Record<string, string> = {
  '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '9': 'g',
  '@': 'a', $: 's', '!': 'i', '|': 'l', '€': 'e', '£': 'l', '¡': 'i',
};

const LETTER_OR_DIGIT = /^[\p{L}\p{N}]$/u;
const MARKS = /\p{M}/gu;

/** A built fold table: a dense BMP table plus lazily folded astral code points. */
export interface FoldTable {
  /** Index: a BMP code point. Value: folded code point (maybe with {@link FOLD_SOFT}), FOLD_SKIP or FOLD_EXPAND. */
  readonly bmp: Int32Array;
  /** Folded code points of every FOLD_EXPAND entry and of every astral code point seen. */
  readonly expansions: Map<number, Int32Array>;
  /** Folds a code point outside the BMP (cached). */
  foldAstral(cp: number): number;
}

let shared: FoldTable | undefined;

/** The process-wide fold table, built once (about 100 ms) on first use. */
export function foldTable(): FoldTable {
  shared ??= buildFoldTable();
  return shared;
}

function buildFoldTable(): FoldTable {
  const t2s = traditionalToSimplified();
  const bmp = new Int32Array(0x10000);
  const expansions = new Map<number, Int32Array>();
  const store = (cp: number, folded: number[]): number => {
    if (folded.length === 0) return FOLD_SKIP;
    if (folded.length === 1) return folded[0]!;
    expansions.set(cp, Int32Array.from(folded));
    return FOLD_EXPAND;
  };
  for (let cp = 0; cp < 0x10000; cp++) {
    bmp[cp] = cp >= 0xd800 && cp <= 0xdfff ? FOLD_SKIP : store(cp, foldCodePoint(cp, t2s));
  }
  return {
    bmp,
    expansions,
    foldAstral(cp) {
      const known = expansions.get(cp);
      if (known) return known.length === 1 ? known[0]! : FOLD_EXPAND;
      const folded = foldCodePoint(cp, t2s);
      expansions.set(cp, Int32Array.from(folded));
      return folded.length === 0 ? FOLD_SKIP : folded.length === 1 ? folded[0]! : FOLD_EXPAND;
    },
  };
}

/** Folds one code point to the code points it stands for; see the module comment. */
function foldCodePoint(cp: number, t2s: Map<number, number>): number[] {
  const source = String.fromCodePoint(cp);
  const leet = LEET[source];
  if (leet !== undefined) return [leet.codePointAt(0)! | FOLD_SOFT];
  // NFKD then drop marks strips accents; NFKC afterwards recomposes Hangul and similar scripts.
  const text = source.normalize('NFKD').replace(MARKS, '').normalize('NFKC').toLowerCase().replace(MARKS, '');
  const out: number[] = [];
  for (const ch of text) {
    const mapped = HOMOGLYPHS[ch];
    if (mapped !== undefined) {
      out.push(mapped.codePointAt(0)!);
      continue;
    }
    const l = LEET[ch];
    if (l !== undefined) {
      out.push(l.codePointAt(0)! | FOLD_SOFT);
      continue;
    }
    if (!LETTER_OR_DIGIT.test(ch)) continue;
    const c = ch.codePointAt(0)!;
    out.push(t2s.get(c) ?? c);
  }
  return out;
}

/**
 * Character-level traditional -> simplified map from OpenCC's Taiwan and Hong Kong variants.
 * Phrase-level conversion does not matter for matching: terms and text fold the same way.
 */
function traditionalToSimplified(): Map<number, number> {
  const chars: string[] = [];
  const ranges: Array<[number, number]> = [[0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xf900, 0xfaff]];
  for (const [from, to] of ranges) for (let cp = from; cp <= to; cp++) chars.push(String.fromCodePoint(cp));
  const joined = chars.join('\n');
  const map = new Map<number, number>();
  for (const from of ['hk', 'tw', 't'] as const) {
    const converted = OpenCC.Converter({ from, to: 'cn' })(joined).split('\n');
    if (converted.length !== chars.length) continue;
    for (let i = 0; i < chars.length; i++) {
      const before = chars[i]!;
      const after = converted[i]!;
      if (after !== before && [...after].length === 1 && !map.has(before.codePointAt(0)!)) {
        map.set(before.codePointAt(0)!, after.codePointAt(0)!);
      }
    }
  }
  return map;
}
