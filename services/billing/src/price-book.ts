import { PriceTable } from '@aigc/proto';
import { failedPrecondition, invalidArgument } from '@aigc/runtime';
import { DEFAULT_PRICE_TABLE, validatePriceTable } from './price-table.js';
import { num, str, type SqlDatabase, type SqlTx } from './store/sql-database.js';

/**
 * The versioned price tables. A version never changes once written, so versions are cached by
 * number; which version applies at a time is looked up in the database, so every replica prices
 * alike the moment a new version is published.
 */
export class PriceBook {
  private readonly versions = new Map<number, PriceTable>();
  private timeline: Array<{ version: number; from: number }> = [];
  private timelineAt = 0;

  constructor(
    private readonly db: SqlDatabase,
    /** How long the version timeline is trusted before it is read again (ms). */
    private readonly refreshMs = 1000,
  ) {}

  /** Writes the default table as version 1 when there is none (idempotent across replicas). */
  async seed(now = Date.now()): Promise<void> {
    await this.db.transaction((tx) =>
      tx.run('INSERT INTO price_tables (version, effective_from_ms, document, created_at_ms) VALUES (1, 0, ?, ?) ON CONFLICT DO NOTHING', [
        JSON.stringify(PriceTable.toJSON(DEFAULT_PRICE_TABLE)),
        now,
      ]),
    );
  }

  /**
   * Adds a version. It must take effect after the latest one, so prices already applied to the
   * ledger are never rewritten. A malformed table is refused whole; nothing is written.
   */
  async publish(input: PriceTable | undefined, now = Date.now()): Promise<PriceTable> {
    const table = validatePriceTable(input && { ...input, effectiveFromMs: input.effectiveFromMs || now });
    const stored = await this.db.transaction(async (tx) => {
      const latest = await tx.one(`SELECT version, effective_from_ms FROM price_tables ORDER BY version DESC LIMIT 1${tx.dialect.forUpdate}`);
      const version = num(latest?.version) + 1;
      if (latest && table.effectiveFromMs <= num(latest.effective_from_ms)) {
        throw invalidArgument(
          `effective_from_ms ${table.effectiveFromMs} must be after version ${num(latest.version)}'s (${num(latest.effective_from_ms)}): published prices are never rewritten`,
        );
      }
      const doc = PriceTable.fromPartial({ ...table, version, createdAtMs: now });
      await tx.run('INSERT INTO price_tables (version, effective_from_ms, document, created_at_ms) VALUES (?, ?, ?, ?)', [
        version,
        doc.effectiveFromMs,
        JSON.stringify(PriceTable.toJSON(doc)),
        now,
      ]);
      return doc;
    });
    this.timelineAt = 0;
    return stored;
  }

  /** The table in effect at `atMs`. */
  async at(atMs: number): Promise<PriceTable> {
    const timeline = await this.currentTimeline();
    let version: number | undefined;
    for (const entry of timeline) if (entry.from <= atMs) version = entry.version;
    if (version === undefined) throw failedPrecondition(`no price table is in effect at ${new Date(atMs).toISOString()}`);
    return this.version(version);
  }

  /** One version by number; pass `tx` when called inside a transaction. */
  async version(version: number, tx?: SqlTx): Promise<PriceTable> {
    const cached = this.versions.get(version);
    if (cached) return cached;
    const query = (t: SqlTx) => t.one('SELECT document FROM price_tables WHERE version = ?', [version]);
    const row = tx ? await query(tx) : await this.db.read(query);
    if (!row) throw failedPrecondition(`price table version ${version} does not exist`);
    const table = PriceTable.fromJSON(JSON.parse(str(row.document)));
    this.versions.set(version, table);
    return table;
  }

  /** Every version, newest first. */
  async list(): Promise<PriceTable[]> {
    const timeline = await this.currentTimeline(true);
    return Promise.all([...timeline].reverse().map((e) => this.version(e.version)));
  }

  private async currentTimeline(force = false): Promise<Array<{ version: number; from: number }>> {
    if (force || Date.now() - this.timelineAt > this.refreshMs) {
      const rows = await this.db.read((tx) => tx.all('SELECT version, effective_from_ms FROM price_tables ORDER BY version'));
      this.timeline = rows.map((r) => ({ version: num(r.version), from: num(r.effective_from_ms) }));
      this.timelineAt = Date.now();
    }
    return this.timeline;
  }
}
