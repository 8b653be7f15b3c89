/**
 * Lexicon candidates: spans reviewers rejected, kept in the `aigc_lexicon` bucket under
 * `candidate.<hash>` until an admin accepts them into the lexicon or dismisses them (the seed's
 * "daily incremental learning", with a person deciding what the lexicon learns).
 */
import { createHash } from 'node:crypto';
import { KV_BUCKETS, type Bus } from '@aigc/bus';
import type { LexiconCandidate } from '@aigc/proto';

type Kv = Awaited<ReturnType<Bus['kv']>>;

const key = (term: string): string => `candidate.${createHash('sha256').update(term).digest('hex').slice(0, 40)}`;

/** See the module comment. */
export class CandidateStore {
  private constructor(private readonly kv: Kv) {}

  /** Opens the store in the provisioned `aigc_lexicon` bucket. */
  static async open(bus: Bus): Promise<CandidateStore> {
    return new CandidateStore(await bus.kv(KV_BUCKETS.lexicon.name));
  }

  /** Records that a reviewer rejected `term` in review `reviewId`; counts repeats. */
  async add(term: string, category: string, reviewId: string): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const entry = await this.kv.get(key(term));
      const existing = entry && entry.value.length > 0 ? entry.json<LexiconCandidate>() : null;
      const next: LexiconCandidate = existing
        ? { ...existing, count: existing.count + (existing.reviewIds.includes(reviewId) ? 0 : 1), reviewIds: [...new Set([...existing.reviewIds, reviewId])].slice(-20) }
        : { term, category, count: 1, firstSeenMs: Date.now(), reviewIds: [reviewId] };
      try {
        if (entry) await this.kv.update(key(term), JSON.stringify(next), entry.revision);
        else await this.kv.create(key(term), JSON.stringify(next));
        return;
      } catch {
        // another reviewer wrote it first: read again
      }
    }
    throw new Error(`could not record lexicon candidate "${term}"`);
  }

  /** Candidates, most often rejected first. */
  async list(limit: number): Promise<LexiconCandidate[]> {
    const out: LexiconCandidate[] = [];
    const keys = await this.kv.keys('candidate.>');
    for await (const k of keys) {
      const entry = await this.kv.get(k);
      if (entry && entry.value.length > 0) out.push(entry.json<LexiconCandidate>());
    }
    return out.sort((a, b) => b.count - a.count || a.firstSeenMs - b.firstSeenMs).slice(0, limit);
  }

  /** One candidate, or null. */
  async get(term: string): Promise<LexiconCandidate | null> {
    const entry = await this.kv.get(key(term));
    return entry && entry.value.length > 0 ? entry.json<LexiconCandidate>() : null;
  }

  /** Forgets a candidate (accepted or dismissed). */
  async remove(term: string): Promise<void> {
    await this.kv.purge(key(term));
  }
}
