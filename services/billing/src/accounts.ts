import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { Limits, type ApiKey, type Tenant } from '@aigc/proto';
import { invalidArgument, notFound, ServiceError, Status } from '@aigc/runtime';

/** Secrets look like `sk-aigc-<48 hex>`; only their SHA-256 is stored. */
const SECRET_PREFIX = 'sk-aigc-';

/** SHA-256 of a presented secret, the only form in which keys are stored. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

interface KeyRow {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  limits: string;
  revoked: number;
  created_at_ms: number;
}

interface TenantRow {
  id: string;
  name: string;
  limits: string;
  created_at_ms: number;
}

/**
 * Tenants and API keys. A key's secret is shown once at creation and stored only as a hash;
 * authentication looks the hash up and refuses revoked keys.
 */
export class Accounts {
  constructor(private readonly db: Database) {}

  createTenant(name: string, limits: Limits | undefined): Tenant {
    if (!name.trim()) throw invalidArgument('name must not be empty');
    const tenant: Tenant = { id: `ten_${randomUUID().replaceAll('-', '')}`, name, limits: limits ?? Limits.fromPartial({}), createdAtMs: Date.now() };
    this.db
      .prepare('INSERT INTO tenants (id, name, limits, created_at_ms) VALUES (?, ?, ?, ?)')
      .run(tenant.id, tenant.name, JSON.stringify(Limits.toJSON(tenant.limits!)), tenant.createdAtMs);
    return tenant;
  }

  createApiKey(tenantId: string, name: string, limits: Limits | undefined): { key: ApiKey; secret: string } {
    if (!tenantId) throw invalidArgument('tenant_id is required');
    this.tenant(tenantId);
    const secret = SECRET_PREFIX + randomBytes(24).toString('hex');
    const key: ApiKey = {
      id: `key_${randomUUID().replaceAll('-', '')}`,
      tenantId,
      name,
      prefix: secret.slice(0, SECRET_PREFIX.length + 6),
      limits: limits ?? Limits.fromPartial({}),
      revoked: false,
      createdAtMs: Date.now(),
    };
    this.db
      .prepare('INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, limits, revoked, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, 0, ?)')
      .run(key.id, tenantId, name, key.prefix, hashSecret(secret), JSON.stringify(Limits.toJSON(key.limits!)), key.createdAtMs);
    return { key, secret };
  }

  /** The key and tenant behind a secret; UNAUTHENTICATED when unknown or revoked. */
  authenticate(secret: string): { key: ApiKey; tenant: Tenant } {
    const row = this.db.prepare('SELECT * FROM api_keys WHERE secret_hash = ?').get(hashSecret(secret)) as KeyRow | undefined;
    if (!row || row.revoked) throw new ServiceError(Status.UNAUTHENTICATED, 'invalid or revoked API key');
    return { key: toKey(row), tenant: this.tenant(row.tenant_id) };
  }

  /** Revokes a key; returns the revoked key. */
  revoke(id: string): ApiKey {
    const result = this.db.prepare('UPDATE api_keys SET revoked = 1 WHERE id = ?').run(id);
    if (result.changes === 0) throw notFound(`API key ${id} not found`);
    return toKey(this.db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id) as KeyRow);
  }

  tenant(id: string): Tenant {
    const row = this.db.prepare('SELECT * FROM tenants WHERE id = ?').get(id) as TenantRow | undefined;
    if (!row) throw notFound(`tenant ${id} not found`);
    return { id: row.id, name: row.name, limits: Limits.fromJSON(JSON.parse(row.limits)), createdAtMs: row.created_at_ms };
  }
}

function toKey(row: KeyRow): ApiKey {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    prefix: row.prefix,
    limits: Limits.fromJSON(JSON.parse(row.limits)),
    revoked: row.revoked === 1,
    createdAtMs: row.created_at_ms,
  };
}
