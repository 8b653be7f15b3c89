/**
 * The decision of one check. Inputs (level 1) go through the lexicon and the rules; outputs
 * (level 3) also through the risk model, and when the lexicon and the model disagree by more than
 * the configured threshold the text goes to human review. Modes: block, mask (matched spans
 * replaced by `*`) and flag (never blocks).
 */
import { CheckStage, ModerationMode, Verdict, type CategoryScore, type CheckResponse, type Finding } from '@aigc/proto';
import type { Logger } from '@aigc/runtime';
import type { LexiconMatch } from './engine/lexicon-index.js';
import type { RuleFinding, RulesEngine } from './engine/rules-engine.js';
import type { LiveLexicon } from './lexicon/live-lexicon.js';
import type { ReviewQueue } from './review/review-queue.js';
import type { RiskScorer, RiskScores } from './risk/risk-scorer.js';

/** Thresholds of the decision. */
export interface ModeratorPolicy {
  /** Lexicon or rule findings at or above this severity block on their own. */
  blockSeverity: number;
  /** A combined score at or above this blocks. */
  blockScore: number;
  /** A score at or above this flags. */
  flagScore: number;
  /** |lexicon score - model score| at or above this sends an output to human review. */
  reviewDisagreement: number;
}

/** What one check asks for. */
export interface CheckInput {
  text: string;
  stage: CheckStage;
  mode: ModerationMode;
  contentCategory?: string;
  signal?: AbortSignal;
  /** Skip the risk model (streaming chunks). */
  fast?: boolean;
}

/** See the module comment. */
export class Moderator {
  constructor(
    private readonly deps: {
      lexicon: LiveLexicon;
      rules: RulesEngine;
      risk: RiskScorer | null;
      reviews: ReviewQueue | null;
      policy: ModeratorPolicy;
      logger: Logger;
    },
  ) {}

  /** Checks one text. Never throws for odd text; may throw when the model or the queue fails. */
  async check(input: CheckInput): Promise<CheckResponse> {
    const { lexicon, rules, risk, policy } = this.deps;
    const served = lexicon.current;
    const output = input.stage === CheckStage.CHECK_STAGE_OUTPUT;
    const mode = input.mode === ModerationMode.MODERATION_MODE_UNSPECIFIED ? ModerationMode.MODERATION_MODE_BLOCK : input.mode;
    const base = { findings: [] as Finding[], scores: [] as CategoryScore[], maskedText: '', reviewId: '', lexiconVersion: served.version };
    if (input.text.trim().length === 0) return { ...base, verdict: Verdict.VERDICT_ALLOW, reason: 'empty text' };

    const matches = served.matcher.scan(input.text);
    const ruleFindings = rules.check(input.text, output ? 'output' : 'input');
    const findings = [...matches.map(lexiconFinding), ...ruleFindings.map(ruleFinding)];
    const modelScores: RiskScores | null = output && risk && !input.fast ? await risk.score(input.text, { signal: input.signal }) : null;

    const categories = new Map<string, number>();
    const raise = (category: string, score: number): void => void categories.set(category, Math.max(categories.get(category) ?? 0, score));
    for (const f of findings) raise(f.category, f.severity / 5);
    let modelScore = 0;
    if (modelScores) {
      for (const [category, p] of Object.entries(modelScores)) {
        raise(category, p);
        modelScore = Math.max(modelScore, p);
        if (p >= policy.flagScore) findings.push({ category, start: 0, end: input.text.length, term: '', severity: Math.max(1, Math.ceil(p * 5)), source: 'model', reason: `risk model: ${category} ${p.toFixed(2)}` });
      }
    }
    const lexiconScore = Math.max(0, ...matches.map((m) => m.term.severity / 5));
    const scores = [...categories].map(([category, score]) => ({ category, score })).sort((a, b) => b.score - a.score);
    const blocking = findings.filter((f) => f.source !== 'model' && f.severity >= policy.blockSeverity);
    const combined = Math.max(0, ...categories.values());
    const result = { ...base, findings, scores };

    if (modelScores && blocking.length === 0) {
      const disagreement = Math.abs(lexiconScore - modelScore);
      if (disagreement >= policy.reviewDisagreement && Math.max(lexiconScore, modelScore) >= policy.flagScore && this.deps.reviews) {
        const scorerScores = [
          { category: 'lexicon', score: lexiconScore },
          { category: 'model', score: modelScore },
          { category: 'rules', score: Math.max(0, ...ruleFindings.map((f) => f.severity / 5)) },
        ];
        const reviewId = await this.deps.reviews.submit({ text: input.text, stage: input.stage, findings, scores, scorerScores, category: scores[0]?.category ?? 'general' }, input.signal);
        return { ...result, verdict: Verdict.VERDICT_REVIEW, reviewId, reason: `scorers disagree (lexicon ${lexiconScore.toFixed(2)}, model ${modelScore.toFixed(2)}): queued for review` };
      }
    }

    const strongest = [...findings].sort((a, b) => b.severity - a.severity)[0];
    const reason = strongest ? `${strongest.source}: ${strongest.reason}` : '';
    if (blocking.length > 0 || combined >= policy.blockScore) {
      if (mode === ModerationMode.MODERATION_MODE_FLAG) return { ...result, verdict: Verdict.VERDICT_FLAG, reason };
      const unmaskable = blocking.some((f) => f.source !== 'lexicon') || (blocking.length === 0 && combined >= policy.blockScore);
      if (mode === ModerationMode.MODERATION_MODE_MASK && !unmaskable) {
        return { ...result, verdict: Verdict.VERDICT_FLAG, maskedText: mask(input.text, matches), reason: `masked: ${reason}` };
      }
      return { ...result, verdict: Verdict.VERDICT_BLOCK, reason };
    }
    if (findings.length > 0 || combined >= policy.flagScore) {
      const maskedText = mode === ModerationMode.MODERATION_MODE_MASK ? mask(input.text, matches) : '';
      return { ...result, verdict: Verdict.VERDICT_FLAG, maskedText, reason };
    }
    return { ...result, verdict: Verdict.VERDICT_ALLOW, maskedText: mode === ModerationMode.MODERATION_MODE_MASK ? input.text : '', reason: '' };
  }
}

function lexiconFinding(m: LexiconMatch): Finding {
  const via = m.via === 'term' ? '' : ` (as ${m.via})`;
  return { category: m.term.category, start: m.start, end: m.end, term: m.term.term, severity: m.term.severity, source: 'lexicon', reason: `${m.term.category} term${via}, severity ${m.term.severity}` };
}

function ruleFinding(f: RuleFinding): Finding {
  return { category: f.category, start: f.start, end: f.end, term: '', severity: f.severity, source: 'rules', reason: `${f.rule}: ${f.reason}` };
}

/** Replaces every letter or digit inside matched spans with `*`, keeping spaces and the text's length in code points. */
export function mask(text: string, matches: readonly LexiconMatch[]): string {
  if (matches.length === 0) return text;
  const spans = [...matches].sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  for (const m of spans) {
    if (m.end <= at) continue;
    const from = Math.max(at, m.start);
    out += text.slice(at, from);
    for (const ch of text.slice(from, m.end)) out += /\s/.test(ch) ? ch : '*';
    at = m.end;
  }
  return out + text.slice(at);
}
