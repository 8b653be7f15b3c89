/**
 * Turns text into the normalized code-point stream the lexicon matches on, keeping a map back to
 * the original text so that matched spans can be reported and masked where the user wrote them.
 */
import { FOLD_EXPAND, FOLD_SKIP, FOLD_SOFT, foldTable, type FoldTable } from './fold-table.js';

/** Flag of {@link NormalizedText.flags}: a word break (skipped characters, script change, start) precedes this position. */
export const BREAK_BEFORE = 1;
/** Flag of {@link NormalizedText.flags}: the character came from leetspeak and may also be punctuation. */
export const SOFT = 2;

/**
 * Text after normalization. Runs of one repeated character are collapsed into one position whose
 * run length is kept, so `kiiill` and `kill` share a pattern while `as` still differs from `ass`.
 */
export interface NormalizedText {
  /** Positions used in the arrays below. */
  readonly length: number;
  /** Normalized code points. */
  readonly codes: Int32Array;
  /** How many times the code point repeated (capped at 65535). */
  readonly runs: Uint16Array;
  /** UTF-16 offset in the original text where the run starts. */
  readonly starts: Int32Array;
  /** UTF-16 offset in the original text just after the run ends. */
  readonly ends: Int32Array;
  /** {@link BREAK_BEFORE} and {@link SOFT} bits. */
  readonly flags: Uint8Array;
}

const isAsciiAlnum = (cp: number): boolean => (cp >= 0x61 && cp <= 0x7a) || (cp >= 0x30 && cp <= 0x39);

/**
 * The normalizer of the lexicon: full/half width and compatibility forms, case, traditional ->
 * simplified Chinese, homoglyphs, leetspeak, removal of symbols, spaces and zero-width characters,
 * and collapsed repeats. Stateless after construction; one instance serves every call.
 */
export class TextNormalizer {
  private readonly table: FoldTable;

  constructor(table: FoldTable = foldTable()) {
    this.table = table;
  }

  /** Normalizes `text`; never throws (lone surrogates are skipped like symbols). */
  normalize(text: string): NormalizedText {
    const n = text.length;
    let cap = n + 8;
    let codes = new Int32Array(cap);
    let runs = new Uint16Array(cap);
    let starts = new Int32Array(cap);
    let ends = new Int32Array(cap);
    let flags = new Uint8Array(cap);
    const bmp = this.table.bmp;
    let len = 0;
    let pendingBreak = true;
    let prev = -1;

    const emit = (value: number, start: number, end: number): void => {
      const soft = (value & FOLD_SOFT) !== 0;
      const cp = value & ~FOLD_SOFT;
      if (cp === prev && len > 0) {
        const r = runs[len - 1]!;
        if (r < 0xffff) runs[len - 1] = r + 1;
        ends[len - 1] = end;
        pendingBreak = false;
        return;
      }
      if (len === cap) {
        cap *= 2;
        codes = grow(codes, cap);
        runs = grow(runs, cap);
        starts = grow(starts, cap);
        ends = grow(ends, cap);
        flags = grow(flags, cap);
      }
      let f = soft ? SOFT : 0;
      if (pendingBreak || len === 0 || isAsciiAlnum(cp) !== isAsciiAlnum(prev) || !isAsciiAlnum(cp)) f |= BREAK_BEFORE;
      codes[len] = cp;
      runs[len] = 1;
      starts[len] = start;
      ends[len] = end;
      flags[len] = f;
      len++;
      prev = cp;
      pendingBreak = false;
    };

    for (let i = 0; i < n; i++) {
      let cp = text.charCodeAt(i);
      const start = i;
      let value: number;
      if (cp < 0xd800 || cp > 0xdfff) {
        value = bmp[cp]!;
      } else if (cp <= 0xdbff && i + 1 < n) {
        const lo = text.charCodeAt(i + 1);
        if (lo < 0xdc00 || lo > 0xdfff) {
          pendingBreak = true;
          continue;
        }
        cp = ((cp - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
        i++;
        value = this.table.foldAstral(cp);
      } else {
        pendingBreak = true;
        continue;
      }
      if (value === FOLD_SKIP) {
        pendingBreak = true;
      } else if (value === FOLD_EXPAND) {
        const parts = this.table.expansions.get(cp)!;
        for (let k = 0; k < parts.length; k++) emit(parts[k]!, start, i + 1);
      } else {
        emit(value, start, i + 1);
      }
    }
    return { length: len, codes, runs, starts, ends, flags };
  }

  /** The normalized form as a string (collapsed runs written once): for logs, keys and tests. */
  normalizeToString(text: string): string {
    const t = this.normalize(text);
    let out = '';
    for (let i = 0; i < t.length; i++) out += String.fromCodePoint(t.codes[i]!);
    return out;
  }
}

function grow<T extends Int32Array | Uint16Array | Uint8Array>(array: T, size: number): T {
  const next = new (array.constructor as new (n: number) => T)(size);
  next.set(array);
  return next;
}
