/**
 * The one storage seam of billing: a small SQL database interface with two implementations,
 * SQLite (embedded default) and PostgreSQL (scale). Domain code (accounts, reservations, the
 * ledger, prices, reports) is written once against it, so both stores run the same logic and
 * the same tests.
 *
 * SQL is written with `?` placeholders and the common subset of both dialects (`ON CONFLICT`,
 * `RETURNING`, integer division); the few differences are named in {@link SqlDialect}.
 */

/** A value bound to a placeholder. */
export type SqlValue = string | number | bigint | null;

/** A row as the driver returns it; numbers are JavaScript numbers in both stores. */
export type SqlRow = Record<string, unknown>;

/** What differs between the two dialects, as SQL fragments. */
export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /** Appended to a SELECT that must lock its rows until commit (`FOR UPDATE` or nothing). */
  readonly forUpdate: string;
  /** Like {@link forUpdate}, skipping rows another transaction holds (for sweepers). */
  readonly forUpdateSkipLocked: string;
}

/** Statements inside one transaction. */
export interface SqlTx {
  readonly dialect: SqlDialect;
  /** The first row, or undefined. */
  one<T extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  all<T extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/** A billing database: transactions that commit when `fn` resolves and roll back when it throws. */
export interface SqlDatabase {
  readonly dialect: SqlDialect;
  /**
   * Runs `fn` in a write transaction: SQLite `BEGIN IMMEDIATE` (one writer at a time, also across
   * processes), PostgreSQL READ COMMITTED where rows are locked with `forUpdate`.
   */
  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>;
  /** Runs read-only statements (a consistent snapshot in SQLite; statement-level in PostgreSQL). */
  read<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>;
  /** Closes the database; waits for running transactions. */
  close(): Promise<void>;
}

/** Reads a numeric column that the driver may return as number, bigint or string. */
export function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (value === null || value === undefined) return 0;
  return Number(value);
}

/** Reads a text column. */
export function str(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}
