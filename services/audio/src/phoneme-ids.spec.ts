import { describe, expect, it } from 'vitest';
import { phonemeIds } from './phoneme-ids.js';

const map = new Map<string, number[]>([
  ['_', [0]],
  ['^', [1]],
  ['$', [2]],
  [' ', [3]],
  ['.', [4]],
  ['h', [10]],
  ['ə', [11]],
  ['ˈ', [12]],
  ['o', [13]],
  ['̃', [14]], // combining tilde: NFD splits õ into o + U+0303
]);

describe('phonemeIds', () => {
  it("lays ids out as Piper does: ^ _ p1 _ p2 _ ... pn _ $", () => {
    expect(phonemeIds('hˈə.', map)).toEqual({ ids: [1, 0, 10, 0, 12, 0, 11, 0, 4, 0, 2], spoken: 2, missing: [] });
  });

  it('decomposes to NFD before mapping', () => {
    expect(phonemeIds('õ', map).ids).toEqual([1, 0, 13, 0, 14, 0, 2]);
  });

  it('skips phonemes the voice lacks and reports them', () => {
    expect(phonemeIds('hzə', map)).toEqual({ ids: [1, 0, 10, 0, 11, 0, 2], spoken: 2, missing: ['z'] });
  });

  it('counts marks, spaces and stress as silent', () => {
    expect(phonemeIds('ˈ .', map).spoken).toBe(0);
  });
});
