import { createHash } from 'node:crypto';
import type { ApiKeyChanged } from '@aigc/proto';
import type { Caller } from '../authenticator.js';

interface Entry {
  caller: Caller;
  expiresAt: number;
}

/**
 * Authenticated keys, kept for a short time so most requests skip the Authenticate round trip.
 * Entries are keyed by a hash of the secret (the secret itself is never held), and dropped when
 * billing broadcasts a change of the key or its tenant, so a revocation is honoured within the
 * broadcast's delay; admission (Reserve) checks revocation in billing's database on every request
 * anyway.
 */
export class KeyCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  private static id(secret: string): string {
    return createHash('sha256').update(secret).digest('base64url');
  }

  get(secret: string): Caller | undefined {
    const id = KeyCache.id(secret);
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry.caller;
  }

  set(secret: string, caller: Caller): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(KeyCache.id(secret), { caller, expiresAt: this.now() + this.ttlMs });
  }

  /** Drops what a broadcast change touches: the key, or every key of the tenant when no key is named. */
  evict(change: Pick<ApiKeyChanged, 'keyId' | 'tenantId'>): void {
    for (const [id, entry] of this.entries) {
      if (change.keyId ? entry.caller.apiKeyId === change.keyId : entry.caller.tenantId === change.tenantId) this.entries.delete(id);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
