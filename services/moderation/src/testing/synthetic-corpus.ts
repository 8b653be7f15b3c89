/**
 * Deterministic synthetic lexicons and texts for tests and `bench/lexicon`: a 100,000-term
 * dictionary is generated from a seed instead of being committed. Half the terms are Chinese
 * (2-4 characters from the common CJK block), half English-like words (4-10 letters); texts mix
 * Chinese and English prose-like runs with a chosen share of listed terms.
 */

/** A seeded PRNG (mulberry32): the same seed gives the same sequence on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'sho', 'vex', 'qua', 'dri', 'zel', 'bor', 'pin', 'gat', 'yum', 'fen', 'hax', 'wol', 'cre', 'tus'];
const CATEGORIES = ['violence', 'sexual', 'hate', 'self_harm', 'illegal', 'fraud', 'profanity'];

/** One synthetic term line. */
export interface SyntheticTerm {
  term: string;
  category: string;
  severity: number;
}

/** `count` distinct terms from `seed`. */
export function syntheticTerms(count: number, seed = 42): SyntheticTerm[] {
  const random = seededRandom(seed);
  const seen = new Set<string>();
  const out: SyntheticTerm[] = [];
  while (out.length < count) {
    let term = '';
    if (out.length % 2 === 0) {
      const len = 2 + Math.floor(random() * 3);
      for (let i = 0; i < len; i++) term += String.fromCharCode(0x4e00 + Math.floor(random() * 0x51a5));
    } else {
      const len = 2 + Math.floor(random() * 3);
      for (let i = 0; i < len; i++) term += SYLLABLES[Math.floor(random() * SYLLABLES.length)];
    }
    if (seen.has(term)) continue;
    seen.add(term);
    out.push({ term, category: CATEGORIES[Math.floor(random() * CATEGORIES.length)]!, severity: 1 + Math.floor(random() * 5) });
  }
  return out;
}

/** The terms as an import file: `term<TAB>category<TAB>severity` lines. */
export function termFile(terms: readonly SyntheticTerm[]): string {
  return terms.map((t) => `${t.term}\t${t.category}\t${t.severity}`).join('\n') + '\n';
}

const ZH = '的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严';
const EN = ['the', 'model', 'answer', 'request', 'service', 'cloud', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'stream', 'token', 'batch', 'queue', 'review', 'policy', 'content', 'safety', 'generate', 'image', 'audio', 'text', 'user', 'prompt', 'output', 'latency', 'throughput'];

/**
 * About `chars` UTF-16 units of mixed Chinese/English text; `termRate` of the segments are listed
 * terms, some written with inserted spaces or in upper case.
 */
export function syntheticText(chars: number, terms: readonly SyntheticTerm[], termRate = 0.02, seed = 7): string {
  const random = seededRandom(seed);
  const parts: string[] = [];
  let size = 0;
  while (size < chars) {
    const r = random();
    let part: string;
    if (r < termRate) {
      const t = terms[Math.floor(random() * terms.length)]!.term;
      part = random() < 0.3 ? [...t].join(' ') : random() < 0.5 ? t.toUpperCase() : t;
      part = ` ${part} `;
    } else if (r < 0.55) {
      const len = 4 + Math.floor(random() * 12);
      part = '';
      for (let i = 0; i < len; i++) part += ZH[Math.floor(random() * ZH.length)];
      part += random() < 0.3 ? '，' : '';
    } else {
      part = ` ${EN[Math.floor(random() * EN.length)]}`;
      if (random() < 0.1) part += '.';
    }
    parts.push(part);
    size += part.length;
  }
  return parts.join('');
}
