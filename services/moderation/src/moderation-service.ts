import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bus } from '@aigc/bus';
import { CheckStage, inference, ModerationMode, ModerationServiceService, Verdict, type LexiconTerm as ProtoTerm } from '@aigc/proto';
import { invalidArgument, ServiceHost, type ConfigOf, type Logger } from '@aigc/runtime';
import { createInferenceHandlers } from '@aigc/serving';
import { RulesEngine } from './engine/rules-engine.js';
import { TextNormalizer } from './engine/text-normalizer.js';
import type { moderationConfigSpec } from './config.js';
import { LexiconStore } from './lexicon/lexicon-store.js';
import { LiveLexicon } from './lexicon/live-lexicon.js';
import { decodeUtf8, parseTermFile, validateTerm } from './lexicon/term-file.js';
import { Moderator } from './moderator.js';
import { loadPresets } from './presets.js';
import { CandidateStore } from './review/candidate-store.js';
import { ReviewQueue } from './review/review-queue.js';
import { RiskScorer } from './risk/risk-scorer.js';
import { StreamCheck } from './stream-check.js';

/** Configuration of the moderation service. */
export type ModerationConfig = ConfigOf<typeof moderationConfigSpec>;

/** Largest term file ImportTerms accepts. */
const MAX_IMPORT_BYTES = 64 * 1024 * 1024;

/**
 * Starts moderation: loads (or seeds) the live lexicon from NATS KV, loads the risk model through
 * the serving core, and serves checks, streaming checks, lexicon administration, the review queue
 * and generation presets. The bus must be connected and provisioned.
 */
export async function startModerationService(config: ModerationConfig, deps: { logger: Logger; bus: Bus; metricsPort?: number | null }): Promise<ServiceHost> {
  const { logger, bus } = deps;
  const normalizer = new TextNormalizer();
  const presets = loadPresets(config.presetsFile);
  const seedFile = config.lexiconFile || defaultLexiconFile();
  const lexicon = await LiveLexicon.start({
    bus,
    store: await LexiconStore.open(bus, normalizer),
    normalizer,
    logger: logger.child({ component: 'lexicon' }),
    seed: () => parseTermFile(readFileSync(seedFile, 'utf8'), normalizer),
    pollMs: config.lexiconPollMs,
  });
  const risk = config.riskModel === 'none' ? null : await RiskScorer.load(config.modelRepository || defaultModelRepository(), config.riskModel, logger);
  const reviews = new ReviewQueue(bus);
  const candidates = await CandidateStore.open(bus);
  const moderator = new Moderator({
    lexicon,
    rules: new RulesEngine({ maxInputChars: config.maxInputChars, maxCharRun: 40, maxPhraseRepeats: 12 }),
    risk,
    reviews,
    policy: { blockSeverity: config.blockSeverity, blockScore: config.blockScore, flagScore: config.flagScore, reviewDisagreement: config.reviewDisagreement },
    logger,
  });
  const checkText = (text: string, raw: Uint8Array): string => {
    const value = raw.length > 0 ? decodeUtf8(raw, 'text_utf8') : text;
    const bytes = raw.length > 0 ? raw.length : Buffer.byteLength(value, 'utf8');
    if (bytes > config.maxTextBytes) throw invalidArgument(`text is ${bytes} bytes; the limit is ${config.maxTextBytes} (MODERATION_MAX_TEXT_BYTES)`);
    return value;
  };
  const terms = (list: readonly ProtoTerm[]) => list.map((t, i) => validateTerm(t, normalizer, `terms[${i}]`));

  const host = ServiceHost.fromConfig('moderation', config, deps);
  // The risk model is also reachable over the Open Inference Protocol, as on every model server.
  if (risk) host.addService(inference.GRPCInferenceServiceService, createInferenceHandlers(risk.repository, { serverName: 'aigc-moderation' }));
  host.addService(ModerationServiceService, {
    async check(request, ctx) {
      const text = checkText(request.text, request.textUtf8);
      return moderator.check({ text, stage: request.stage, mode: request.mode, contentCategory: request.contentCategory, signal: ctx.signal });
    },
    async *checkStream(requests, ctx) {
      let stream: StreamCheck | undefined;
      // Iterated by hand: leaving a for-await early would destroy the call's stream before the
      // adapter can end it with OK, and the producer would never hear the verdict's end.
      const incoming = requests[Symbol.asyncIterator]();
      for (;;) {
        const next = await incoming.next();
        if (next.done) break;
        const request = next.value;
        stream ??= new StreamCheck(moderator, {
          stage: request.stage === CheckStage.CHECK_STAGE_UNSPECIFIED ? CheckStage.CHECK_STAGE_OUTPUT : request.stage,
          mode: request.mode,
          windowChars: config.streamWindowChars,
          maxTotalChars: config.maxInputChars * 8,
        });
        if (request.chunk.length > config.maxTextBytes) throw invalidArgument(`chunk is longer than ${config.maxTextBytes}`);
        const { response, stop } = await stream.push(request.chunk, ctx.signal);
        yield response;
        if (stop) return; // ending the call tells the producer to stop generating
      }
      if (stream) {
        const final = await stream.finish(ctx.signal);
        if (final.verdict !== Verdict.VERDICT_ALLOW) yield final;
      }
    },
    async upsertTerms(request) {
      return lexicon.upsert(terms(request.terms));
    },
    async removeTerms(request) {
      return lexicon.remove(request.terms);
    },
    async *exportTerms() {
      const list = [...lexicon.current.matcher.terms.values()].sort((a, b) => (a.term < b.term ? -1 : a.term > b.term ? 1 : 0));
      for (const t of list) yield t;
    },
    async importTerms(requests) {
      const chunks: Buffer[] = [];
      let size = 0;
      let replace: boolean | undefined;
      for await (const chunk of requests) {
        replace ??= chunk.replace;
        size += chunk.data.length;
        if (size > MAX_IMPORT_BYTES) throw invalidArgument(`the term file is larger than ${MAX_IMPORT_BYTES} bytes`);
        chunks.push(Buffer.from(chunk.data));
      }
      const parsed = parseTermFile(decodeUtf8(Buffer.concat(chunks), 'the term file'), normalizer);
      if (replace && parsed.length === 0) throw invalidArgument('the term file has no terms; replacing the lexicon with nothing is refused');
      return lexicon.import(parsed, replace ?? false);
    },
    async getLexiconInfo() {
      const { version, matcher } = lexicon.current;
      const all = [...matcher.terms.values()];
      return { version, terms: all.length, allowed: all.filter((t) => t.allow).length, buildMs: matcher.buildMs, categories: [...new Set(all.map((t) => t.category))].sort() };
    },
    async listReviews(request) {
      return { items: await reviews.list(Math.min(request.limit || 50, 500)) };
    },
    async claimReview(request) {
      const claim = await reviews.claim(Math.min(request.waitMs, 30_000));
      return claim ? { item: claim.item, claimToken: claim.token, claimExpiresAtMs: claim.expiresAtMs } : { item: undefined, claimToken: '', claimExpiresAtMs: 0 };
    },
    async decideReview(request, ctx) {
      if (!request.id || !request.claimToken) throw invalidArgument('id and claim_token are required (claim the item first)');
      const item = await reviews.claimed(request.id, request.claimToken);
      const spans = request.rejectedSpans.map((s, i) => validateTerm({ term: s, category: request.category || item.category || 'general', severity: 3, allow: false }, normalizer, `rejected_spans[${i}]`));
      for (const span of spans) await candidates.add(span.term, span.category, item.id);
      await reviews.complete(request.claimToken);
      ctx.logger.info('review decided', { review_id: item.id, approve: request.approve, reviewer: request.reviewer, candidates: spans.length });
      return { candidates: spans.length };
    },
    async listCandidates(request) {
      return { candidates: await candidates.list(Math.min(request.limit || 100, 1000)) };
    },
    async acceptCandidates(request) {
      const found = [];
      for (const term of request.terms) {
        const c = await candidates.get(term);
        if (c) found.push(c);
      }
      if (request.dismiss) {
        for (const c of found) await candidates.remove(c.term);
        return { accepted: 0, dismissed: found.length, lexiconVersion: lexicon.current.version };
      }
      const accepted = found.map((c, i) => validateTerm({ term: c.term, category: request.category || c.category, severity: request.severity || 3, allow: false }, normalizer, `terms[${i}]`));
      const change = accepted.length > 0 ? await lexicon.upsert(accepted) : { version: lexicon.current.version };
      for (const c of found) await candidates.remove(c.term);
      return { accepted: accepted.length, dismissed: 0, lexiconVersion: change.version };
    },
    async getPresets(request) {
      return { presets: request.category ? presets.filter((p) => p.category === request.category) : presets };
    },
  });

  // Cleanups run last-registered first: stop following the lexicon, unload the model, drain NATS.
  host.onShutdown(() => bus.drain());
  host.onShutdown(() => risk?.close());
  host.onShutdown(() => lexicon.close());
  await host.start();
  logger.info('moderation serving', { lexicon_version: lexicon.current.version, risk_model: risk?.version ?? 'none', mode_default: ModerationMode[ModerationMode.MODERATION_MODE_BLOCK] });
  return host;
}

/** The shipped lexicon: copied into `dist/lexicon` by the build (images carry only `dist/`), or the source copy. */
function defaultLexiconFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, 'lexicon', 'default.tsv');
  return existsSync(built) ? built : resolve(here, '..', 'lexicon', 'default.tsv');
}

/** The repository's `models/` directory, found walking up from this file. */
function defaultModelRepository(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'models')) && existsSync(join(dir, 'proto'))) return join(dir, 'models');
    dir = dirname(dir);
  }
  return resolve('models');
}
