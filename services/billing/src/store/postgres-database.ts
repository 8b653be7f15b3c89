import pg from 'pg';
import type { SqlDatabase, SqlDialect, SqlRow, SqlTx, SqlValue } from './sql-database.js';

const DIALECT: SqlDialect = { name: 'postgres', forUpdate: ' FOR UPDATE', forUpdateSkipLocked: ' FOR UPDATE SKIP LOCKED' };

// BIGINT, NUMERIC (SUM of BIGINT) and COUNT come back as strings by default; billing's amounts are
// integer micro-units far below 2^53, so numbers are exact.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

/** `?` placeholders to `$1, $2, ...` (billing's SQL never has `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Serialization failures and deadlocks: the transaction may simply be run again. */
const RETRYABLE = new Set(['40001', '40P01']);

/**
 * PostgreSQL through a `pg` pool. Transactions run at READ COMMITTED and lock the rows they decide
 * on with `SELECT ... FOR UPDATE`, so concurrent reservations from any number of billing replicas
 * queue on the tenant's and key's admission rows. Serialization failures and deadlocks are retried.
 */
export class PostgresDatabase implements SqlDatabase {
  readonly dialect = DIALECT;
  private readonly pool: pg.Pool;
  private readonly names = new Map<string, string>();

  constructor(url: string, options: { maxConnections?: number } = {}) {
    this.pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 16 });
    // An idle client losing its server must not crash the process; the next query reconnects.
    this.pool.on('error', () => undefined);
  }

  /** Runs a multi-statement script (schema) on one connection. */
  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(this.txOf(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        const code = (err as { code?: string }).code;
        if (code && RETRYABLE.has(code) && attempt < 5) continue;
        throw err;
      } finally {
        client.release();
      }
    }
  }

  async read<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      return await fn(this.txOf(client));
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private txOf(client: pg.PoolClient): SqlTx {
    const query = (sql: string, params: readonly SqlValue[]) =>
      client.query({ text: this.text(sql), values: params as unknown[] });
    return {
      dialect: DIALECT,
      one: async <T extends SqlRow>(sql: string, params: readonly SqlValue[] = []) => (await query(sql, params)).rows[0] as T | undefined,
      all: async <T extends SqlRow>(sql: string, params: readonly SqlValue[] = []) => (await query(sql, params)).rows as T[],
      run: async (sql: string, params: readonly SqlValue[] = []) => (await query(sql, params)).rowCount ?? 0,
    };
  }

  private text(sql: string): string {
    let text = this.names.get(sql);
    if (!text) {
      text = numbered(sql);
      this.names.set(sql, text);
    }
    return text;
  }
}
