/**
 * The lexicon's persistence: versioned snapshots in the NATS KV bucket `aigc_lexicon`, so every
 * replica on every machine reads the same library. A snapshot is the term file, gzipped and cut
 * into chunks under `snapshot.<version>.<writer>.<n>`; the key `current` names the version in
 * effect and its chunks. A change is written as a new snapshot and made current with a
 * compare-and-set on `current`: of two admins racing, one wins and the other retries on top of it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { KV_BUCKETS, type Bus } from '@aigc/bus';
import { failedPrecondition } from '@aigc/runtime';
import type { LexiconTerm } from '../engine/lexicon-index.js';
import type { TextNormalizer } from '../engine/text-normalizer.js';
import { formatTermFile, parseTermFile } from './term-file.js';

/** What `current` holds. */
export interface SnapshotMeta {
  version: number;
  writer: string;
  chunks: number;
  sha256: string;
  terms: number;
  updatedAtMs: number;
}

/** A snapshot read back: its version and terms. */
export interface LexiconSnapshot {
  version: number;
  terms: LexiconTerm[];
}

const CURRENT = 'current';
/** Below NATS's default 1 MiB max payload, with room for headers. */
const CHUNK_BYTES = 512 * 1024;
const MAX_ATTEMPTS = 8;

type Kv = Awaited<ReturnType<Bus['kv']>>;

/** See the module comment. */
export class LexiconStore {
  private constructor(
    private readonly kv: Kv,
    private readonly normalizer: TextNormalizer,
  ) {}

  /** Opens the store in the provisioned `aigc_lexicon` bucket. */
  static async open(bus: Bus, normalizer: TextNormalizer): Promise<LexiconStore> {
    return new LexiconStore(await bus.kv(KV_BUCKETS.lexicon.name), normalizer);
  }

  /** The version in effect, or 0 when nothing was ever stored. Cheap: one KV read. */
  async currentVersion(): Promise<number> {
    const entry = await this.kv.get(CURRENT);
    return entry && entry.value.length > 0 ? (entry.json<SnapshotMeta>().version ?? 0) : 0;
  }

  /** The snapshot in effect, or null when nothing was ever stored. */
  async load(): Promise<LexiconSnapshot | null> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry = await this.kv.get(CURRENT);
      if (!entry || entry.value.length === 0) return null;
      const meta = entry.json<SnapshotMeta>();
      const terms = await this.readSnapshot(meta);
      // A writer may have made a newer version current and removed these chunks meanwhile: retry.
      if (terms) return { version: meta.version, terms };
    }
    throw failedPrecondition('the stored lexicon kept changing while it was read');
  }

  /**
   * Applies `change` to the current terms and stores the result as the next version. `change`
   * gets the current terms (by term) and returns the new ones, or null for "nothing to do".
   * Retries on a concurrent writer. Resolves with the version in effect afterwards.
   */
  async commit(
    change: (current: Map<string, LexiconTerm>) => Map<string, LexiconTerm> | null,
    cached?: LexiconSnapshot,
  ): Promise<{ version: number; terms: Map<string, LexiconTerm>; changed: boolean }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry = await this.kv.get(CURRENT);
      const meta = entry && entry.value.length > 0 ? entry.json<SnapshotMeta>() : null;
      let base: LexiconTerm[] = [];
      if (meta) {
        const known = cached && cached.version === meta.version ? cached.terms : await this.readSnapshot(meta);
        if (!known) continue;
        base = known;
      }
      const current = new Map(base.map((t) => [t.term, t] as const));
      const next = change(current);
      if (next === null) return { version: meta?.version ?? 0, terms: current, changed: false };
      const written = await this.writeSnapshot((meta?.version ?? 0) + 1, next.values());
      try {
        if (entry && meta) await this.kv.update(CURRENT, JSON.stringify(written), entry.revision);
        else await this.kv.create(CURRENT, JSON.stringify(written));
      } catch {
        await this.removeChunks(written);
        continue; // someone else committed first: apply the change on top of theirs
      }
      if (meta) await this.removeChunks(meta).catch(() => undefined);
      return { version: written.version, terms: next, changed: true };
    }
    throw failedPrecondition('the lexicon is being changed by others too often; try again');
  }

  private async writeSnapshot(version: number, terms: Iterable<LexiconTerm>): Promise<SnapshotMeta> {
    const list = [...terms];
    const data = gzipSync(Buffer.from(formatTermFile(list), 'utf8'));
    const meta: SnapshotMeta = {
      version,
      writer: randomUUID().slice(0, 8),
      chunks: Math.max(1, Math.ceil(data.length / CHUNK_BYTES)),
      sha256: createHash('sha256').update(data).digest('hex'),
      terms: list.length,
      updatedAtMs: Date.now(),
    };
    for (let i = 0; i < meta.chunks; i++) {
      await this.kv.put(chunkKey(meta, i), data.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
    }
    return meta;
  }

  /** The terms of a snapshot, or null when its chunks are gone (a newer version replaced it). */
  private async readSnapshot(meta: SnapshotMeta): Promise<LexiconTerm[] | null> {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < meta.chunks; i++) {
      const chunk = await this.kv.get(chunkKey(meta, i));
      if (!chunk || chunk.value.length === 0) return null;
      parts.push(chunk.value);
    }
    const data = Buffer.concat(parts);
    if (createHash('sha256').update(data).digest('hex') !== meta.sha256) return null;
    return parseTermFile(gunzipSync(data).toString('utf8'), this.normalizer);
  }

  private async removeChunks(meta: SnapshotMeta): Promise<void> {
    for (let i = 0; i < meta.chunks; i++) await this.kv.purge(chunkKey(meta, i));
  }
}

function chunkKey(meta: SnapshotMeta, i: number): string {
  return `snapshot.${meta.version}.${meta.writer}.${i}`;
}
