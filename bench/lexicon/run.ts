/**
 * Lexicon engines side by side, in one run, on the same 100,000-term dictionary (generated from a
 * seed: half Chinese, half English-like) and the same mixed Chinese/English text: build time,
 * memory held after build, and scan throughput (UTF-8 MB/s) with each engine's own normalization.
 *
 *   node --expose-gc --import tsx bench/lexicon/run.ts [--terms 100000] [--chars 1000000]
 *
 * Engines: this service's LexiconIndex (full normalization: width, case, traditional Chinese,
 * homoglyphs, leetspeak, separators, repeats, pinyin), mint-filter (none), modern-ahocorasick
 * (raw; and TextMatcher with NFKC + case folding), obscenity (its English transformers, which
 * drop non-Latin text). Slow engines are measured on a prefix of the text: at least one pass of
 * at least 16 KiB, growing until a full pass or 3 s of scanning.
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { Mint } from 'mint-filter';
import AhoCorasick from 'modern-ahocorasick';
import TextMatcher from 'modern-ahocorasick/text';
import { englishRecommendedTransformers, parseRawPattern, RegExpMatcher } from 'obscenity';
import { LexiconIndex } from '../../services/moderation/src/engine/lexicon-index.js';
import { TextNormalizer } from '../../services/moderation/src/engine/text-normalizer.js';
import { syntheticTerms, syntheticText } from '../../services/moderation/src/testing/synthetic-corpus.js';

const { values } = parseArgs({ options: { terms: { type: 'string', default: '100000' }, chars: { type: 'string', default: '1000000' } } });
const terms = syntheticTerms(Number(values.terms));
const words = terms.map((t) => t.term);
const text = syntheticText(Number(values.chars), terms);
// The fold table (Unicode and OpenCC tables) is built once per process, not per lexicon: timed apart.
const f0 = performance.now();
const normalizer = new TextNormalizer();
const foldTableMs = performance.now() - f0;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

interface Engine {
  name: string;
  normalization: string;
  build(): unknown;
  scan(engine: unknown, text: string): number;
}

const engines: Engine[] = [
  {
    name: 'aigc LexiconIndex',
    normalization: 'full (NFKC, width, case, t2s, homoglyphs, leet, separators, repeats, pinyin)',
    build: () => LexiconIndex.build(terms.map((t) => ({ ...t, allow: false })), normalizer),
    scan: (e, s) => (e as LexiconIndex).scan(s, { limit: 1e9 }).length,
  },
  {
    name: 'mint-filter 4.0.3',
    normalization: 'none',
    build: () => new Mint(words),
    scan: (e, s) => (e as Mint).filter(s, { replace: false }).words.length,
  },
  {
    name: 'modern-ahocorasick 3.3.0',
    normalization: 'none',
    build: () => new AhoCorasick(words),
    scan: (e, s) => (e as AhoCorasick).search(s).length,
  },
  {
    name: 'modern-ahocorasick 3.3.0 TextMatcher',
    normalization: 'NFKC + case folding',
    build: () => new TextMatcher(words, { normalization: 'NFKC', caseFold: true }),
    scan: (e, s) => (e as TextMatcher).search(s).length,
  },
  {
    name: 'obscenity 0.4.6',
    normalization: 'English transformers (confusables, leet, lower case, skip non-alphabetic, collapse duplicates)',
    build: () =>
      new RegExpMatcher({
        blacklistedTerms: words.map((w, id) => ({ id, pattern: parseRawPattern(w) })),
        ...englishRecommendedTransformers,
      }),
    scan: (e, s) => (e as RegExpMatcher).getAllMatches(s).length,
  },
];

const heap = (): number => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

const rows: string[] = [];
const results: Array<{ name: string; mbps: number }> = [];
for (const engine of engines) {
  const before = heap();
  const t0 = performance.now();
  let built: unknown;
  try {
    built = engine.build();
  } catch (err) {
    rows.push(`| ${engine.name} | ${engine.normalization} | build failed: ${(err as Error).message.slice(0, 60)} | | | |`);
    continue;
  }
  const buildMs = performance.now() - t0;
  const memory = heap() - before;
  // Warm up on a small prefix, then scan growing prefixes until a full pass or the time budget.
  engine.scan(built, text.slice(0, 20_000));
  let scannedBytes = 0;
  let spent = 0;
  let found = 0;
  let size = 16_384;
  for (;;) {
    const part = text.slice(0, Math.min(size, text.length));
    const s0 = performance.now();
    found = engine.scan(built, part);
    spent += performance.now() - s0;
    scannedBytes += Buffer.byteLength(part, 'utf8');
    if (spent > 3000 || (part.length === text.length && spent > 1000)) break;
    if (part.length < text.length) size *= 4;
  }
  const mbps = scannedBytes / 1e6 / (spent / 1000);
  results.push({ name: engine.name, mbps });
  rows.push(`| ${engine.name} | ${engine.normalization} | ${buildMs.toFixed(0)} | ${(memory / 2 ** 20).toFixed(1)} | ${mbps.toFixed(2)} | ${found} |`);
  built = undefined;
}

const ours = results[0]!.mbps;
const peers = results.slice(1);
const fastest = peers.reduce((best, r) => (r.mbps > best.mbps ? r : best), peers[0]!);
process.stdout.write(
  [
    `terms: ${terms.length}, text: ${text.length} UTF-16 units (${(Buffer.byteLength(text) / 1e6).toFixed(2)} MB UTF-8), node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
    '',
    '| engine | normalization | build ms | memory MiB | scan MB/s | matches (last pass) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    `aigc fold table, built once per process: ${foldTableMs.toFixed(0)} ms`,
    `ratio: aigc / fastest peer (${fastest.name}) = ${(ours / fastest.mbps).toFixed(2)}x`,
    '',
  ].join('\n'),
);
