/**
 * Generates the labelled data set of the risk classifier, deterministically (seeded):
 *
 * - harmful examples: English and Chinese sentence templates per category, filled with category
 *   vocabulary (the shipped lexicon's terms plus paraphrases that are NOT in the lexicon, so the
 *   model learns more than the lexicon knows), some written with evasions (spaces, symbols,
 *   leetspeak, full width, traditional characters);
 * - benign examples: lines of the Debian fortune files on this machine (`fortunes-min` in
 *   English, `fortune-zh` in Chinese: chinese, tang300, song100) and benign templates with hard
 *   negatives (`kill the process`, `杀毒软件`).
 *
 * The held-out split holds out whole templates (every fourth per category) and its own fortune
 * lines and benign templates; vocabulary words are shared. Its scores measure generalization to
 * unseen phrasings of known vocabulary within this synthetic distribution, not to real traffic. Features come from the service's own featurizer.
 *
 *   npx tsx tools/train-risk/make-dataset.ts [out.jsonl]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RiskFeaturizer } from '../../services/moderation/src/risk/features.js';
import { seededRandom } from '../../services/moderation/src/testing/synthetic-corpus.js';
import { LABELS, TEMPLATES, VOCABULARY, BENIGN_TEMPLATES, BENIGN_WORDS } from './templates.js';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? join(here, '.data', 'dataset.jsonl');
const random = seededRandom(20240611);
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
const isTest = (key: string): boolean => hash(key) % 4 === 0; // a quarter of templates, words and lines

// Vocabulary: the shipped lexicon's terms plus the paraphrases in templates.ts.
const lexicon = readFileSync(join(here, '../../services/moderation/lexicon/default.tsv'), 'utf8')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => l.split('\t'))
  .filter((f) => f[3] !== 'allow' && LABELS.includes(f[1] as (typeof LABELS)[number]));
const vocab = new Map<string, string[]>(LABELS.filter((l) => l !== 'safe').map((l) => [l, [...(VOCABULARY[l] ?? [])]]));
for (const [term, category] of lexicon) vocab.get(category!)?.push(term!);

const featurizer = new RiskFeaturizer();
const rows: string[] = [];
const counts: Record<string, number> = {};
const emit = (text: string, label: string, split: 'train' | 'test'): void => {
  const ids = Array.from(featurizer.featurize(text), Number);
  rows.push(JSON.stringify({ label: LABELS.indexOf(label as (typeof LABELS)[number]), split, text, ids }));
  counts[`${split}.${label}`] = (counts[`${split}.${label}`] ?? 0) + 1;
};

// Harmful: every category, every template, several fillings; the split follows template and word.
for (const [category, templates] of Object.entries(TEMPLATES)) {
  const words = vocab.get(category)!;
  for (const [t, template] of templates.entries()) {
    for (let k = 0; k < 60; k++) {
      const word = pick(words);
      const testTemplate = t % 4 === 1;
      emit(evade(template.replace('{x}', word)), category, testTemplate ? 'test' : 'train');
    }
  }
}

// Benign: fortunes (English and Chinese) and benign templates with hard negatives.
const fortuneDir = '/usr/share/games/fortunes';
for (const [file, limit] of [['fortunes', 1600], ['literature', 400], ['riddles', 200], ['chinese', 1200], ['tang300', 500], ['song100', 300]] as const) {
  let text: string;
  try {
    text = readFileSync(join(fortuneDir, file), 'utf8');
  } catch {
    continue;
  }
  const entries = text.split(/\n%\n/).map((e) => e.replace(/\s+/g, ' ').trim()).filter((e) => e.length >= 8 && e.length <= 400);
  for (let i = 0; i < Math.min(limit, entries.length); i++) {
    const e = entries[Math.floor(random() * entries.length)]!;
    emit(e, 'safe', isTest(e) ? 'test' : 'train');
  }
}
for (const template of BENIGN_TEMPLATES) {
  for (let k = 0; k < 30; k++) {
    const word = pick(BENIGN_WORDS);
    const split = isTest(template) ? 'test' : 'train';
    emit(template.replace('{x}', word), 'safe', split);
  }
}

mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, rows.join('\n') + '\n');
process.stdout.write(`${rows.length} examples -> ${out}\n${JSON.stringify(counts, null, 1)}\n`);

/** Writes some examples the way people get past filters. */
function evade(text: string): string {
  const r = random();
  if (r < 0.6) return text;
  if (r < 0.7) return text.replace(/[a-z]/g, (c) => ({ a: '4', e: '3', i: '1', o: '0', s: '$' })[c] ?? c);
  if (r < 0.8) return [...text].join(random() < 0.5 ? ' ' : '*');
  if (r < 0.9) return text.replace(/[!-~]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
  return text.toUpperCase();
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
