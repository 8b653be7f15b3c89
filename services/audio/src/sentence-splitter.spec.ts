import { describe, expect, it } from 'vitest';
import { SentenceSplitter } from './sentence-splitter.js';

describe('SentenceSplitter', () => {
  const splitter = new SentenceSplitter({ maxChars: 60 });

  it('splits English at sentence marks and keeps the marks', () => {
    expect(splitter.split('Hello there. How are you?  Fine!  Version 1.5 is out')).toEqual(['Hello there.', 'How are you?', 'Fine!', 'Version 1.5 is out']);
  });

  it('splits Chinese at full-width marks without spaces', () => {
    expect(splitter.split('今天天气很好。我们去公园吧！你觉得呢？')).toEqual(['今天天气很好。', '我们去公园吧！', '你觉得呢？']);
  });

  it('splits at blank lines and folds whitespace', () => {
    expect(splitter.split('A title\n\nThe  body\ncontinues here.')).toEqual(['A title', 'The body continues here.']);
  });

  it('cuts long sentences at clauses, then words, never past the limit', () => {
    const long = 'This sentence runs on, and on, and keeps going with many more words than anyone should use in one breath without stopping.';
    const pieces = splitter.split(long);
    expect(pieces.length).toBeGreaterThan(1);
    for (const p of pieces) expect([...p].length).toBeLessThanOrEqual(60);
    expect(pieces.join(' ').replace(/\s+/g, ' ')).toBe(long);
    expect(splitter.split('x'.repeat(150)).map((p) => p.length)).toEqual([60, 60, 30]);
  });

  it('gives nothing for blank text', () => {
    expect(splitter.split(' \n\t ')).toEqual([]);
  });
});
