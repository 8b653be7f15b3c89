import BetterSqlite3 from 'better-sqlite3';
import { beforeEach, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { Modality, UsageEvent } from '@aigc/proto';
import { Accounts, hashSecret } from './accounts.js';
import { SCHEMA } from './schema.js';
import { UsageLedger } from './usage-ledger.js';

let db: BetterSqlite3.Database;
beforeEach(() => {
  db = new BetterSqlite3(':memory:');
  db.pragma('foreign_keys = ON');
  db.exec(SCHEMA);
});

describe('Accounts', () => {
  it('stores only the hash of a key, shows the secret once, and authenticates it', () => {
    const accounts = new Accounts(db);
    const tenant = accounts.createTenant('acme', undefined);
    const { key, secret } = accounts.createApiKey(tenant.id, 'ci', undefined);
    expect(secret).toMatch(/^sk-aigc-[0-9a-f]{48}$/);
    const stored = JSON.stringify(db.prepare('SELECT * FROM api_keys').all());
    expect(stored).not.toContain(secret);
    expect(stored).toContain(hashSecret(secret));
    expect(accounts.authenticate(secret)).toMatchObject({ key: { id: key.id, tenantId: tenant.id }, tenant: { name: 'acme' } });
  });

  it('refuses unknown and revoked keys with UNAUTHENTICATED', () => {
    const accounts = new Accounts(db);
    const tenant = accounts.createTenant('acme', undefined);
    const { key, secret } = accounts.createApiKey(tenant.id, 'ci', undefined);
    expect(() => accounts.authenticate('sk-aigc-nope')).toThrow(expect.objectContaining({ code: status.UNAUTHENTICATED }));
    accounts.revoke(key.id);
    expect(() => accounts.authenticate(secret)).toThrow(expect.objectContaining({ code: status.UNAUTHENTICATED }));
    expect(() => accounts.revoke('key_missing')).toThrow(expect.objectContaining({ code: status.NOT_FOUND }));
  });

  it('needs an existing tenant for a key', () => {
    expect(() => new Accounts(db).createApiKey('ten_missing', 'x', undefined)).toThrow(expect.objectContaining({ code: status.NOT_FOUND }));
  });
});

describe('UsageLedger', () => {
  const event = (id: string) =>
    UsageEvent.fromPartial({ eventId: id, requestId: 'r1', tenantId: 't1', service: 'text', model: 'm', modality: Modality.MODALITY_TEXT, usage: { promptTokens: 3, completionTokens: 5, computeMs: 2.5 }, occurredAtMs: 1 });

  it('records each event id once, however often it is delivered', () => {
    const ledger = new UsageLedger(db);
    expect(ledger.record(event('e1'), 1)).toBe(true);
    expect(ledger.record(event('e1'), 2)).toBe(false);
    expect(ledger.record(event('e2'), 3)).toBe(true);
    const rows = ledger.list({ requestId: 'r1' });
    expect(rows.map((r) => r.event.eventId).sort()).toEqual(['e1', 'e2']);
    expect(rows[0]!.event.usage).toMatchObject({ promptTokens: 3, completionTokens: 5, computeMs: 2.5 });
    expect(ledger.list({ tenantId: 't1' })).toHaveLength(2);
  });
});
