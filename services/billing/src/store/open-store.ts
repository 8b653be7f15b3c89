import { PostgresDatabase } from './postgres-database.js';
import { BACKFILL_ADMISSION, LEDGER_PRICING_COLUMNS, schema } from './schema.js';
import type { SqlDatabase } from './sql-database.js';
import { SqliteDatabase } from './sqlite-database.js';

/** Where the billing data lives: exactly one of a SQLite file and a PostgreSQL URL. */
export type StoreLocation = { sqlite: string } | { postgres: string; maxConnections?: number };

/** Advisory lock key that serializes schema creation between replicas starting together. */
const SCHEMA_LOCK = 0x61696763;

/**
 * Opens the billing database and brings its schema up to date (idempotent; safe for several
 * replicas starting at once). Existing SQLite ledgers from before pricing get the new columns.
 */
export async function openStore(location: StoreLocation): Promise<SqlDatabase> {
  if ('sqlite' in location) {
    const db = new SqliteDatabase(location.sqlite);
    try {
      const existing = db.columns('usage_events');
      if (existing.length > 0) {
        for (const [name, type] of LEDGER_PRICING_COLUMNS) {
          if (!existing.includes(name)) db.exec(`ALTER TABLE usage_events ADD COLUMN ${name} ${type}`);
        }
      }
      db.exec(schema('sqlite'));
      db.exec(BACKFILL_ADMISSION);
    } catch (err) {
      await db.close();
      throw err;
    }
    return db;
  }
  const db = new PostgresDatabase(location.postgres, { maxConnections: location.maxConnections });
  try {
    await db.exec(`BEGIN; SELECT pg_advisory_xact_lock(${SCHEMA_LOCK}); ${schema('postgres')} ${BACKFILL_ADMISSION} COMMIT;`);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
