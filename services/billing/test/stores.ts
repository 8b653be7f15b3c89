import { createHarness, startPostgres } from '@aigc/testing';
import pg from 'pg';
import { openStore, type StoreLocation } from '../src/store/open-store.js';
import type { SqlDatabase } from '../src/store/sql-database.js';

/** The stores every store-level suite runs against. */
export const STORES = ['sqlite', 'postgres'] as const;
/** One of {@link STORES}. */
export type StoreKind = (typeof STORES)[number];

/**
 * Opens fresh, empty billing databases of one kind for a suite: a new SQLite file per call, or a
 * new database in one throwaway PostgreSQL cluster per suite (started on first use).
 */
export function storeFactory(kind: StoreKind) {
  const harness = createHarness();
  let cluster: Promise<{ url: string }> | undefined;
  const opened: SqlDatabase[] = [];
  let n = 0;
  return {
    /** A location of a fresh database (for services and extra replicas). */
    async location(): Promise<StoreLocation> {
      n += 1;
      if (kind === 'sqlite') return { sqlite: `${process.env['TMPDIR'] ?? '/tmp'}/aigc-billing-${process.pid}-${Date.now()}-${n}.sqlite` };
      cluster ??= startPostgres({ harness });
      const { url } = await cluster;
      const name = `billing_${process.pid}_${n}`;
      const admin = new pg.Client(url);
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      return { postgres: url.replace(/\/postgres$/, `/${name}`), maxConnections: 16 };
    },
    /** A fresh database, closed by `close()`. */
    async open(location?: StoreLocation): Promise<SqlDatabase> {
      const db = await openStore(location ?? (await this.location()));
      opened.push(db);
      return db;
    },
    async close(): Promise<void> {
      for (const db of opened.splice(0)) await db.close().catch(() => undefined);
      await harness.close();
    },
  };
}
