import { describe, expect, it } from 'vitest';
import { LexiconIndex, type LexiconTerm } from './lexicon-index.js';
import { TextNormalizer } from './text-normalizer.js';

const term = (t: string, category = 'test', severity = 3, allow = false): LexiconTerm => ({ term: t, category, severity, allow });

const index = LexiconIndex.build([
  term('kill'),
  term('ass', 'profanity', 2),
  term('shit', 'profanity', 2),
  term('法轮功', 'illegal', 4),
  term('傻逼', 'profanity', 3),
  term('赌博', 'illegal', 3),
  term('毒品', 'illegal', 4),
  term('gun'),
  term('скам', 'fraud'),
  term('class', 'benign', 1, true),
  term('assassin', 'benign', 1, true),
]);

const found = (text: string): string[] => index.scan(text).map((m) => m.term.term);

describe('TextNormalizer', () => {
  const normalizer = new TextNormalizer();
  it('folds width, case, compatibility forms, accents and traditional Chinese', () => {
    expect(normalizer.normalizeToString('ＫＩＬＬ')).toBe('kil');
    expect(normalizer.normalizeToString('ﬁ②')).toBe('fi2');
    expect(normalizer.normalizeToString('Kïłl')).toBe(normalizer.normalizeToString('kill'));
    expect(normalizer.normalizeToString('賭博')).toBe('赌博');
    expect(normalizer.normalizeToString('毒\u200b品')).toBe('毒品');
  });

  it('maps every normalized position back to the original text', () => {
    const text = 'a Ｋ\u200bi l L.';
    const t = normalizer.normalize(text);
    expect(t.length).toBe(4);
    expect(text.slice(t.starts[1]!, t.ends[t.length - 1]!)).toBe('Ｋ\u200bi l L');
    expect(Array.from(t.runs.slice(0, t.length))).toEqual([1, 1, 1, 2]);
  });

  it('never throws on lone surrogates, astral characters or control characters', () => {
    expect(normalizer.normalizeToString('k\ud800i\udc00ll😀\u0000')).toBe('kil');
    expect(normalizer.normalizeToString('')).toBe('');
  });
});

describe('LexiconIndex evasion classes', () => {
  it('plain terms, in Chinese and English', () => {
    expect(found('我们去赌博吧')).toEqual(['赌博']);
    expect(found('I will kill it')).toEqual(['kill']);
  });
  it('full width and half width', () => {
    expect(found('ｋｉｌｌ them')).toEqual(['kill']);
  });
  it('case', () => {
    expect(found('KiLL them')).toEqual(['kill']);
  });
  it('Unicode compatibility forms (mathematical and circled letters)', () => {
    expect(found('𝐤𝐢𝐥𝐥 them')).toEqual(['kill']);
    expect(found('ⓚⓘⓛⓛ them')).toEqual(['kill']);
  });
  it('traditional Chinese', () => {
    expect(found('去賭博')).toEqual(['赌博']);
    expect(found('法輪功')).toEqual(['法轮功']);
  });
  it('symbols, spaces and zero-width characters between characters', () => {
    expect(found('毒-品')).toEqual(['毒品']);
    expect(found('毒 * 品')).toEqual(['毒品']);
    expect(found('毒\u200b\u200d品')).toEqual(['毒品']);
    expect(found('k.i.l.l')).toEqual(['kill']);
    expect(found('k i l l')).toEqual(['kill']);
  });
  it('repeated characters', () => {
    expect(found('kiiiiilllll')).toEqual(['kill']);
    expect(found('傻傻傻逼')).toEqual(['傻逼']);
    expect(found('as')).toEqual([]);
  });
  it('homoglyphs (Cyrillic and Greek look-alikes)', () => {
    expect(found('kіll')).toEqual(['kill']); // Cyrillic і
    expect(found('gυn')).toEqual(['gun']); // Greek upsilon
    expect(found('ckam')).toEqual(['скам']); // a Cyrillic term written with Latin look-alikes
  });
  it('leetspeak', () => {
    expect(found('k1ll')).toEqual(['kill']);
    expect(found('sh!t happens')).toEqual(['shit']);
    expect(found('a$$')).toEqual(['ass']);
    expect(found('you ass!')).toEqual(['ass']);
  });
  it('pinyin and pinyin initials of Chinese terms', () => {
    expect(found('他练 falungong')).toEqual(['法轮功']);
    expect(found('fa lun gong')).toEqual(['法轮功']);
    expect(found('他是 flg 的人')).toEqual(['法轮功']);
    expect(found('你个shabi')).toEqual(['傻逼']);
    // Two-letter initials stand for hundreds of terms: abbreviations like `sb` are listed as terms.
    expect(found('你个sb')).toEqual([]);
    expect(index.scan('flg')[0]!.via).toBe('initials');
  });
  it('does not match English terms inside other words', () => {
    expect(found('the gunnery sussex kills')).toEqual([]);
    expect(found('passage')).toEqual([]);
  });
});

describe('LexiconIndex allowlist', () => {
  it('an allowlisted longer word that contains a term is not flagged; the term alone still is', () => {
    expect(found('an assassin')).toEqual([]);
    expect(found('assassin ass')).toEqual(['ass']);
  });
  it('allowlisted words hide Chinese terms inside them', () => {
    const zh = LexiconIndex.build([term('赌博'), term('反赌博', 'benign', 1, true)]);
    expect(zh.scan('反赌博宣传').map((m) => m.term.term)).toEqual([]);
    expect(zh.scan('赌博宣传').map((m) => m.term.term)).toEqual(['赌博']);
  });
});

describe('LexiconIndex offsets', () => {
  it('reports UTF-16 offsets of the original text, across inserted characters', () => {
    const text = '前缀😀毒 * 品后缀';
    const [m] = index.scan(text);
    expect(text.slice(m!.start, m!.end)).toBe('毒 * 品');
  });
  it('finds overlapping terms and stops at the limit', () => {
    const many = LexiconIndex.build([term('甲乙丙'), term('乙丙丁'), term('乙丙')]);
    expect(many.scan('甲乙丙丁').map((m) => m.term.term).sort()).toEqual(['甲乙丙', '乙丙', '乙丙丁'].sort());
    expect(index.scan('kill '.repeat(100), { limit: 5 })).toHaveLength(5);
  });
});
