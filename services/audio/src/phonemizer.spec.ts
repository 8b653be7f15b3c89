import { describe, expect, it } from 'vitest';
import { Phonemizer } from './phonemizer.js';

// Real espeak-ng (Debian package espeak-ng) in child processes.
const phonemizer = new Phonemizer({ concurrency: 2 });

describe('Phonemizer', () => {
  it('turns English into eSpeak NG IPA with the sentence mark kept', async () => {
    expect(await phonemizer.phonemize('Hello world.', 'en-us')).toBe('həlˈoʊ wˈɜːld.'.normalize('NFD'));
    expect(await phonemizer.phonemize('Is it?', 'en-us')).toMatch(/\?$/u);
  });

  it('joins clauses with ", " as the voices were trained', async () => {
    expect(await phonemizer.phonemize('Yes, of course', 'en-us')).toBe('jˈɛs, ʌv kˈoːɹs.'.normalize('NFD'));
  });

  it('reads Chinese characters as Mandarin with tone marks (cmn-latn-pinyin)', async () => {
    const ipa = await phonemizer.phonemize('你好。', 'cmn-latn-pinyin');
    expect(ipa).toMatch(/^n.*i.*χ.*u.*\.$/u);
    expect(ipa).not.toMatch(/\(en\)/u);
  });

  it('is the same for the same input', async () => {
    const a = await Promise.all(Array.from({ length: 4 }, () => phonemizer.phonemize('The same sentence, twice.', 'en-us')));
    expect(new Set(a).size).toBe(1);
  });

  it('fails clearly for a voice eSpeak NG lacks, and refuses odd voice names', async () => {
    await expect(phonemizer.phonemize('hello', 'xx-nope')).rejects.toMatchObject({ message: 'phonemizer failed' });
    await expect(phonemizer.phonemize('hello', 'en; rm -rf')).rejects.toThrow(/not a voice name/);
  });

  it('stops when the signal fires', async () => {
    const controller = new AbortController();
    const pending = phonemizer.phonemize('A sentence that is cancelled before it is read.', 'en-us', controller.signal);
    controller.abort(new Error('gone'));
    await expect(pending).rejects.toThrow();
  });
});
