import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ApiKey, Limits, Tenant } from '@aigc/proto';
import { invalidArgument, notFound, ServiceError, Status } from '@aigc/runtime';
import { decodeLimits, encodeLimits, validateLimits } from './limits.js';
import { num, str, type SqlDatabase, type SqlRow, type SqlTx } from './store/sql-database.js';

/** Secrets look like `sk-aigc-<48 hex>`; only their SHA-256 is stored. */
const SECRET_PREFIX = 'sk-aigc-';

/** SHA-256 of a presented secret, the only form in which keys are stored. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

const newId = (prefix: string) => `${prefix}_${randomUUID().replaceAll('-', '')}`;

/** What a change to a name or limits looks like (unset fields are kept). */
export interface AccountChange {
  name?: string;
  limits?: Limits;
}

/**
 * Tenants and API keys. A key's secret is shown once at creation and stored only as a hash;
 * authentication looks the hash up and refuses revoked keys. Every tenant and key gets its
 * admission row (limits state) in the same transaction that creates it.
 */
export class Accounts {
  constructor(private readonly db: SqlDatabase) {}

  async createTenant(name: string, limits: Limits | undefined, now = Date.now()): Promise<Tenant> {
    if (!name.trim()) throw invalidArgument('name must not be empty');
    const tenant: Tenant = { id: newId('ten'), name: name.trim(), limits: validateLimits(limits), createdAtMs: now };
    await this.db.transaction(async (tx) => {
      await tx.run('INSERT INTO tenants (id, name, limits, created_at_ms) VALUES (?, ?, ?, ?)', [tenant.id, tenant.name, encodeLimits(tenant.limits!), now]);
      await tx.run('INSERT INTO admission_state (scope) VALUES (?)', [`tenant:${tenant.id}`]);
    });
    return tenant;
  }

  async listTenants(limit = 1000): Promise<Tenant[]> {
    const rows = await this.db.read((tx) => tx.all('SELECT * FROM tenants ORDER BY created_at_ms, id LIMIT ?', [Math.min(limit || 1000, 10_000)]));
    return rows.map(toTenant);
  }

  async updateTenant(id: string, change: AccountChange): Promise<Tenant> {
    const limits = change.limits && validateLimits(change.limits);
    return this.db.transaction(async (tx) => {
      const tenant = await requireTenant(tx, id, true);
      const next: Tenant = { ...tenant, name: change.name?.trim() || tenant.name, limits: limits ?? tenant.limits };
      await tx.run('UPDATE tenants SET name = ?, limits = ? WHERE id = ?', [next.name, encodeLimits(next.limits!), id]);
      return next;
    });
  }

  async createApiKey(tenantId: string, name: string, limits: Limits | undefined, now = Date.now()): Promise<{ key: ApiKey; secret: string }> {
    if (!tenantId) throw invalidArgument('tenant_id is required');
    const checked = validateLimits(limits);
    const secret = SECRET_PREFIX + randomBytes(24).toString('hex');
    const key: ApiKey = { id: newId('key'), tenantId, name, prefix: secret.slice(0, SECRET_PREFIX.length + 6), limits: checked, revoked: false, createdAtMs: now };
    await this.db.transaction(async (tx) => {
      await requireTenant(tx, tenantId);
      await tx.run('INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, limits, revoked, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, 0, ?)', [
        key.id,
        tenantId,
        name,
        key.prefix,
        hashSecret(secret),
        encodeLimits(checked),
        now,
      ]);
      await tx.run('INSERT INTO admission_state (scope) VALUES (?)', [`key:${key.id}`]);
    });
    return { key, secret };
  }

  async listApiKeys(tenantId: string, includeRevoked: boolean): Promise<ApiKey[]> {
    if (!tenantId) throw invalidArgument('tenant_id is required');
    return this.db.read(async (tx) => {
      await requireTenant(tx, tenantId);
      const rows = await tx.all(`SELECT * FROM api_keys WHERE tenant_id = ?${includeRevoked ? '' : ' AND revoked = 0'} ORDER BY created_at_ms, id`, [tenantId]);
      return rows.map(toKey);
    });
  }

  async updateApiKey(id: string, change: AccountChange): Promise<ApiKey> {
    const limits = change.limits && validateLimits(change.limits);
    return this.db.transaction(async (tx) => {
      const key = await requireKey(tx, id);
      const next: ApiKey = { ...key, name: change.name?.trim() || key.name, limits: limits ?? key.limits };
      await tx.run('UPDATE api_keys SET name = ?, limits = ? WHERE id = ?', [next.name, encodeLimits(next.limits!), id]);
      return next;
    });
  }

  /** The key and tenant behind a secret; UNAUTHENTICATED when unknown or revoked. */
  async authenticate(secret: string): Promise<{ key: ApiKey; tenant: Tenant }> {
    return this.db.read(async (tx) => {
      const row = await tx.one('SELECT * FROM api_keys WHERE secret_hash = ?', [hashSecret(secret)]);
      if (!row || num(row.revoked)) throw new ServiceError(Status.UNAUTHENTICATED, 'invalid or revoked API key');
      return { key: toKey(row), tenant: await requireTenant(tx, str(row.tenant_id)) };
    });
  }

  /** Revokes a key (idempotent); returns it. Reserve refuses it from the moment this commits. */
  async revoke(id: string): Promise<ApiKey> {
    return this.db.transaction(async (tx) => {
      const key = await requireKey(tx, id);
      await tx.run('UPDATE api_keys SET revoked = 1 WHERE id = ?', [id]);
      return { ...key, revoked: true };
    });
  }

  async tenant(id: string): Promise<Tenant> {
    return this.db.read((tx) => requireTenant(tx, id));
  }
}

async function requireTenant(tx: SqlTx, id: string, lock = false): Promise<Tenant> {
  const row = id ? await tx.one(`SELECT * FROM tenants WHERE id = ?${lock ? tx.dialect.forUpdate : ''}`, [id]) : undefined;
  if (!row) throw notFound(`tenant ${id || '(empty id)'} not found`);
  return toTenant(row);
}

async function requireKey(tx: SqlTx, id: string): Promise<ApiKey> {
  const row = id ? await tx.one(`SELECT * FROM api_keys WHERE id = ?${tx.dialect.forUpdate}`, [id]) : undefined;
  if (!row) throw notFound(`API key ${id || '(empty id)'} not found`);
  return toKey(row);
}

function toTenant(row: SqlRow): Tenant {
  return { id: str(row.id), name: str(row.name), limits: decodeLimits(row.limits), createdAtMs: num(row.created_at_ms) };
}

function toKey(row: SqlRow): ApiKey {
  return {
    id: str(row.id),
    tenantId: str(row.tenant_id),
    name: str(row.name),
    prefix: str(row.prefix),
    limits: decodeLimits(row.limits),
    revoked: num(row.revoked) === 1,
    createdAtMs: num(row.created_at_ms),
  };
}
