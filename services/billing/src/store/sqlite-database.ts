import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { SqlDatabase, SqlDialect, SqlRow, SqlTx, SqlValue } from './sql-database.js';

const DIALECT: SqlDialect = { name: 'sqlite', forUpdate: '', forUpdateSkipLocked: '' };

/**
 * SQLite (WAL) through better-sqlite3. Statements are synchronous, so transactions are serialized
 * with an in-process lock (an `await` inside a transaction must not let another one interleave on
 * the same connection) and `BEGIN IMMEDIATE` takes the write lock at once, which also serializes
 * writers in other processes sharing the file (they wait up to `busy_timeout`).
 */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = DIALECT;
  private readonly db: BetterSqlite3.Database;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new BetterSqlite3(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash (kill -9); only power loss may lose the last ones.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
  }

  /** Runs a multi-statement script (schema) outside any transaction. */
  exec(sql: string): void {
    this.db.exec(sql);
  }

  /** Column names of a table (empty when it does not exist). */
  columns(table: string): string[] {
    return (this.db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((c) => c.name);
  }

  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.tx);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  read<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.db.exec('BEGIN');
      try {
        return await fn(this.tx);
      } finally {
        if (this.db.inTransaction) this.db.exec('COMMIT');
      }
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    this.db.close();
  }

  private readonly tx: SqlTx = {
    dialect: DIALECT,
    one: async <T extends SqlRow>(sql: string, params: readonly SqlValue[] = []) => this.statement(sql).get(...params) as T | undefined,
    all: async <T extends SqlRow>(sql: string, params: readonly SqlValue[] = []) => this.statement(sql).all(...params) as T[],
    run: async (sql: string, params: readonly SqlValue[] = []) => this.statement(sql).run(...params).changes,
  };

  private statement(sql: string): BetterSqlite3.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /** Runs `fn` once every earlier call has finished. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('billing database is closed'));
    const run = this.tail.then(fn);
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}
