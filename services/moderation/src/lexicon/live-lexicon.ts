/**
 * The lexicon a replica serves, kept current without a restart: changes are committed to the
 * {@link LexiconStore}, announced on `aigc.lexicon.changed` with their version, and every replica
 * that hears of a newer version (or finds one when it polls the store) loads it and swaps its
 * matcher with one assignment. Checks in flight finish on the matcher they started with.
 */
import { publishCore, subscribeCore, SUBJECTS, type Bus } from '@aigc/bus';
import type { Logger } from '@aigc/runtime';
import type { LexiconTerm } from '../engine/lexicon-index.js';
import { LexiconMatcher } from '../engine/lexicon-matcher.js';
import type { TextNormalizer } from '../engine/text-normalizer.js';
import type { LexiconStore } from './lexicon-store.js';

/** A version of the lexicon and its compiled matcher. */
export interface ServedLexicon {
  readonly version: number;
  readonly matcher: LexiconMatcher;
}

/** What a change did. */
export interface LexiconChangeResult {
  version: number;
  changed: number;
  total: number;
}

/** Options of {@link LiveLexicon.start}. */
export interface LiveLexiconOptions {
  bus: Bus;
  store: LexiconStore;
  normalizer: TextNormalizer;
  logger: Logger;
  /** Terms stored as version 1 when the store is empty. */
  seed: () => LexiconTerm[];
  /** How often the stored version is checked, in case a broadcast was missed. */
  pollMs: number;
  /** Idle time after a change before the matcher's delta is compacted into one index. */
  compactAfterMs?: number;
}

/** See the module comment. */
export class LiveLexicon {
  private served: ServedLexicon;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private compactTimer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  private constructor(private readonly options: LiveLexiconOptions, first: ServedLexicon) {
    this.served = first;
    const sub = subscribeCore(options.bus, SUBJECTS.lexiconChanged.name, (msg) => {
      const version = Number(msg.json<{ version?: number }>().version ?? 0);
      if (version > this.served.version) void this.refresh();
    });
    this.unsubscribe = () => sub.unsubscribe();
    const poll = setInterval(() => void this.refreshIfStale(), options.pollMs);
    poll.unref();
    this.timers.push(poll);
  }

  /** Loads the stored lexicon (seeding an empty store), compiles it, and starts following changes. */
  static async start(options: LiveLexiconOptions): Promise<LiveLexicon> {
    let snapshot = await options.store.load();
    if (!snapshot) {
      const seeded = await options.store.commit((current) => (current.size > 0 ? null : new Map(options.seed().map((t) => [t.term, t] as const))));
      snapshot = { version: seeded.version, terms: [...seeded.terms.values()] };
      options.logger.info('lexicon store was empty; seeded it', { version: seeded.version, terms: snapshot.terms.length });
    }
    const matcher = LexiconMatcher.build(snapshot.terms, options.normalizer);
    options.logger.info('lexicon loaded', { version: snapshot.version, terms: snapshot.terms.length, build_ms: Math.round(matcher.buildMs) });
    return new LiveLexicon(options, { version: snapshot.version, matcher });
  }

  /** The version and matcher to use for one check (read once per check). */
  get current(): ServedLexicon {
    return this.served;
  }

  /** Adds or updates terms. */
  upsert(terms: readonly LexiconTerm[]): Promise<LexiconChangeResult> {
    return this.change((current) => {
      let changed = 0;
      const next = new Map(current);
      for (const t of terms) {
        const old = next.get(t.term);
        if (old && old.category === t.category && old.severity === t.severity && old.allow === t.allow) continue;
        next.set(t.term, t);
        changed++;
      }
      return { next, changed };
    });
  }

  /** Removes terms (unknown ones are ignored). */
  remove(terms: readonly string[]): Promise<LexiconChangeResult> {
    return this.change((current) => {
      const next = new Map(current);
      let changed = 0;
      for (const t of terms) if (next.delete(t.trim())) changed++;
      return { next, changed };
    });
  }

  /** Merges `terms` into the lexicon, or replaces the lexicon with them. */
  import(terms: readonly LexiconTerm[], replace: boolean): Promise<LexiconChangeResult> {
    if (!replace) return this.upsert(terms);
    return this.change((current) => {
      const next = new Map(terms.map((t) => [t.term, t] as const));
      let changed = 0;
      for (const [k, t] of next) {
        const old = current.get(k);
        if (!old || old.category !== t.category || old.severity !== t.severity || old.allow !== t.allow) changed++;
      }
      for (const k of current.keys()) if (!next.has(k)) changed++;
      return { next, changed };
    });
  }

  /** Loads the stored version when it is newer than the one served. */
  async refreshIfStale(): Promise<void> {
    try {
      if ((await this.options.store.currentVersion()) > this.served.version) await this.refresh();
    } catch (err) {
      this.options.logger.warn('could not check the stored lexicon version', { error: err });
    }
  }

  /** Stops following changes. */
  close(): void {
    this.unsubscribe();
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.compactTimer);
  }

  private async change(
    edit: (current: ReadonlyMap<string, LexiconTerm>) => { next: Map<string, LexiconTerm>; changed: number },
  ): Promise<LexiconChangeResult> {
    let changed = 0;
    const cached = { version: this.served.version, terms: [...this.served.matcher.terms.values()] };
    const result = await this.options.store.commit((current) => {
      const out = edit(current);
      changed = out.changed;
      return out.changed === 0 ? null : out.next;
    }, cached);
    if (result.changed) {
      this.apply(result.version, result.terms);
      publishCore(this.options.bus, SUBJECTS.lexiconChanged.name, new TextEncoder().encode(JSON.stringify({ version: result.version })));
    }
    return { version: result.version, changed, total: result.terms.size };
  }

  /** Serializes reloads: one at a time, and one more if a newer version was announced meanwhile. */
  private refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        try {
          const snapshot = await this.options.store.load();
          if (snapshot && snapshot.version > this.served.version) {
            this.apply(snapshot.version, new Map(snapshot.terms.map((t) => [t.term, t] as const)));
          }
        } catch (err) {
          this.options.logger.error('lexicon reload failed; still serving the previous version', { error: err });
        }
      } while (this.refreshAgain);
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private apply(version: number, terms: ReadonlyMap<string, LexiconTerm>): void {
    if (version <= this.served.version) return;
    const matcher = this.served.matcher.update(terms, this.options.normalizer);
    this.served = { version, matcher };
    this.options.logger.info('lexicon version applied', { version, terms: terms.size, delta: matcher.deltaSize, build_ms: Math.round(matcher.buildMs) });
    clearTimeout(this.compactTimer);
    if (matcher.deltaSize > 0) {
      this.compactTimer = setTimeout(() => {
        if (this.served.matcher === matcher) this.served = { version, matcher: matcher.compact(this.options.normalizer) };
      }, this.options.compactAfterMs ?? 60_000);
      this.compactTimer.unref();
    }
  }
}
