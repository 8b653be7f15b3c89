import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ClipBpeTokenizer, loadPromptTokenizer, WordLevelTokenizer } from './prompt-tokenizer.js';

const DEFAULT_MODEL_TOKENIZER = join(import.meta.dirname, '..', '..', '..', 'models', 'shapes-diffusion', 'tokenizer');

describe('WordLevelTokenizer', () => {
  it('encodes the default model prompts as the training recipe does', () => {
    const tok = loadPromptTokenizer(DEFAULT_MODEL_TOKENIZER);
    expect(tok).toBeInstanceOf(WordLevelTokenizer);
    // Ids from models/shapes-diffusion/tokenizer/vocab.json: <pad> 0, <bos> 1, <eos> 2, <unk> 3, a 4, red 8, circle 14.
    expect(tok.encode('A red, circle!')).toEqual([1, 4, 8, 14, 2, ...new Array(11).fill(0)]);
    expect(tok.encode('a mauve circle').slice(0, 5)).toEqual([1, 4, 3, 14, 2]);
    expect(tok.encode('')).toEqual([1, 2, ...new Array(14).fill(0)]);
    expect(tok.encode('red '.repeat(40))).toHaveLength(16);
    expect(tok.encode('red '.repeat(40)).at(-1)).toBe(2);
  });
});

describe('ClipBpeTokenizer', () => {
  it('merges byte-level pairs by rank and marks word ends', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clip-tok-'));
    const vocab = { '<|startoftext|>': 0, '<|endoftext|>': 1, 'h': 2, 'i</w>': 3, 'hi</w>': 4, '!</w>': 5, 'ĠX': 6, 'o': 7, 'ho': 8, 'o</w>': 9 };
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
    writeFileSync(join(dir, 'merges.txt'), '#version: 0.2\nh i</w>\nh o\n');
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 8 }));
    const tok = loadPromptTokenizer(dir);
    expect(tok).toBeInstanceOf(ClipBpeTokenizer);
    // "hi" merges to one token, "!" is its own word, "hoo" -> ho + o</w>.
    expect(tok.encode('  HI!   hoo ')).toEqual([0, 4, 5, 8, 9, 1, 1, 1]);
  });
});
