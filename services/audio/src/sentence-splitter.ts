/**
 * Splits text into sentences, the unit the audio service phonemizes, batches and streams.
 */

/** Options of a {@link SentenceSplitter}. */
export interface SentenceSplitterOptions {
  /** Longest sentence in characters; longer ones are cut at clause marks, then at spaces. */
  maxChars?: number;
}

// A sentence ends at . ! ? ; … (followed by space or end) or at CJK 。！？；, and at blank lines.
const SENTENCE_END = /([.!?;…]+["')\]]*(?=\s|$)|[。！？；]+[”」』）]*|\n\s*\n)/u;
const CLAUSE_END = /([,:，、：]+)/u;

/**
 * Splits text into speakable sentences in reading order: at sentence punctuation (Latin and CJK)
 * and blank lines; sentences longer than `maxChars` are cut at clause marks and then at spaces, so
 * no piece is longer than the limit (a single unbroken run longer than the limit is cut hard).
 */
export class SentenceSplitter {
  readonly maxChars: number;

  constructor(options: SentenceSplitterOptions = {}) {
    this.maxChars = options.maxChars ?? 300;
  }

  split(text: string): string[] {
    const out: string[] = [];
    for (const sentence of cutAfter(text, SENTENCE_END)) {
      for (const piece of this.limit(sentence)) {
        const clean = piece.replace(/\s+/gu, ' ').trim();
        if (clean) out.push(clean);
      }
    }
    return out;
  }

  private limit(sentence: string): string[] {
    if ([...sentence].length <= this.maxChars) return [sentence];
    const pieces: string[] = [];
    let current = '';
    for (const clause of cutAfter(sentence, CLAUSE_END).flatMap((c) => splitWords(c))) {
      if (current && [...current].length + [...clause].length > this.maxChars) {
        pieces.push(current);
        current = '';
      }
      current += clause;
    }
    if (current) pieces.push(current);
    return pieces.flatMap((p) => hardCut(p, this.maxChars));
  }
}

/** Cuts after each match of `mark` (the mark stays with the text before it). */
function cutAfter(text: string, mark: RegExp): string[] {
  const parts = text.split(mark);
  const out: string[] = [];
  for (let i = 0; i < parts.length; i += 2) out.push((parts[i] ?? '') + (parts[i + 1] ?? ''));
  return out.filter((p) => p.trim());
}

function splitWords(clause: string): string[] {
  return clause.split(/(?<=\s)/u);
}

function hardCut(piece: string, max: number): string[] {
  const chars = [...piece];
  if (chars.length <= max) return [piece];
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += max) out.push(chars.slice(i, i + max).join(''));
  return out;
}
