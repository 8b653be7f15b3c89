import { InfrastructureCost, OperationsCost, PriceTable, TrainingCost, type ModelPrice, type Usage } from '@aigc/proto';
import { invalidArgument } from '@aigc/runtime';

/** The units a price can be set for, and how each is read from a {@link Usage}. */
export const PRICE_UNITS = {
  prompt_token: (u: Usage) => u.promptTokens,
  completion_token: (u: Usage) => u.completionTokens,
  image: (u: Usage) => u.images,
  step: (u: Usage) => u.steps,
  megapixel: (u: Usage) => u.pixels / 1e6,
  audio_second: (u: Usage) => u.audioSeconds,
  character: (u: Usage) => u.characters,
} as const satisfies Record<string, (u: Usage) => number>;

/** A unit of work with a price. */
export type PriceUnit = keyof typeof PRICE_UNITS;

/** The model entry that prices every model not listed by name. */
export const ANY_MODEL = '*';

/** Platform cost of one usage event under the cost model. */
export interface EventCost {
  infrastructureMicros: number;
  trainingMicros: number;
}

/**
 * The table a fresh installation starts with: every model at one price (per token, per image, per
 * audio second), an accelerator at 3 USD per hour, and daily storage and people costs. Replace it
 * with `PublishPriceTable`.
 */
export const DEFAULT_PRICE_TABLE: PriceTable = PriceTable.fromPartial({
  version: 1,
  effectiveFromMs: 0,
  currency: 'USD',
  models: [
    {
      model: ANY_MODEL,
      unitMicros: { prompt_token: 0.5, completion_token: 1.5, image: 20_000, step: 200, megapixel: 1000, audio_second: 3000, character: 15 },
      training: { dataCollectionMicros: 20_000_000_000, labellingMicros: 10_000_000_000, trainingComputeMicros: 30_000_000_000, amortizeOverRequests: 100_000_000 },
    },
  ],
  infrastructure: { acceleratorSecondMicros: 833.33, storageMicrosPerDay: 5_000_000, networkMicrosPerRequest: 2 },
  operations: { peopleMicrosPerDay: 1_500_000_000 },
});

const isAmount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * Checks a price table and returns it normalized (units known, amounts finite and non-negative,
 * one entry per model, a currency). Every problem is named in one INVALID_ARGUMENT.
 */
export function validatePriceTable(input: PriceTable | undefined): PriceTable {
  if (!input) throw invalidArgument('table is required');
  const problems: string[] = [];
  const currency = input.currency.trim();
  if (!/^[A-Z]{3}$/.test(currency)) problems.push(`currency must be an ISO 4217 code such as USD (got "${input.currency}")`);
  if (!Number.isSafeInteger(input.effectiveFromMs) || input.effectiveFromMs < 0) problems.push('effective_from_ms must be a non-negative time in ms');
  if (input.models.length === 0) problems.push('models must price at least one model (use "*" for every model)');
  const seen = new Set<string>();
  for (const [i, m] of input.models.entries()) {
    const where = `models[${i}]${m.model ? ` (${m.model})` : ''}`;
    if (!m.model.trim()) problems.push(`${where}: model is required`);
    if (seen.has(m.model)) problems.push(`${where}: model listed twice`);
    seen.add(m.model);
    for (const [unit, price] of Object.entries(m.unitMicros)) {
      if (!(unit in PRICE_UNITS)) problems.push(`${where}: unknown unit "${unit}" (known: ${Object.keys(PRICE_UNITS).join(', ')})`);
      if (!isAmount(price)) problems.push(`${where}: price of ${unit} must be a finite amount >= 0 (got ${price})`);
    }
    const t = m.training;
    if (t) {
      for (const [name, v] of Object.entries(TrainingCost.toJSON(t) as Record<string, unknown>)) {
        if (!isAmount(Number(v))) problems.push(`${where}: training.${name} must be >= 0 (got ${String(v)})`);
      }
      const amortized = t.dataCollectionMicros + t.labellingMicros + t.trainingComputeMicros;
      if (amortized > 0 && t.amortizeOverRequests <= 0) problems.push(`${where}: training.amortize_over_requests must be > 0 when training costs are set`);
    }
  }
  const infra = input.infrastructure ?? InfrastructureCost.fromPartial({});
  for (const [name, v] of Object.entries({ accelerator_second_micros: infra.acceleratorSecondMicros, storage_micros_per_day: infra.storageMicrosPerDay, network_micros_per_request: infra.networkMicrosPerRequest })) {
    if (!isAmount(v)) problems.push(`infrastructure.${name} must be a finite amount >= 0 (got ${v})`);
  }
  const ops = input.operations ?? OperationsCost.fromPartial({});
  if (!isAmount(ops.peopleMicrosPerDay)) problems.push(`operations.people_micros_per_day must be >= 0 (got ${ops.peopleMicrosPerDay})`);
  if (problems.length > 0) throw invalidArgument(`malformed price table: ${problems.join('; ')}`);
  return PriceTable.fromPartial({ ...input, currency, infrastructure: infra, operations: ops });
}

/** The entry pricing `model`: its own, else `*`, else none. */
export function modelPrice(table: PriceTable, model: string): ModelPrice | undefined {
  return table.models.find((m) => m.model === model) ?? table.models.find((m) => m.model === ANY_MODEL);
}

/**
 * What a tenant is charged for `usage` of `model`, in whole micro-units rounded up (so a
 * reservation priced from a worst-case estimate is never below the charge for less usage).
 * Undefined when the table has no price for the model.
 */
export function chargeFor(table: PriceTable, model: string, usage: Usage): number | undefined {
  const price = modelPrice(table, model);
  if (!price) return undefined;
  let micros = 0;
  for (const [unit, perUnit] of Object.entries(price.unitMicros)) {
    const amount = PRICE_UNITS[unit as PriceUnit]?.(usage) ?? 0;
    micros += amount * perUnit;
  }
  // Guard against float noise such as 0.1 * 3 = 0.30000000000000004 rounding up a whole micro.
  return Math.ceil(micros - 1e-9);
}

/**
 * Platform cost of one event: accelerator-seconds at the instance price plus network, and the
 * model's training cost amortized per request. Storage and people are daily costs, shared out
 * per day by {@link allocateDailyCosts} in reports.
 */
export function eventCost(table: PriceTable, model: string, usage: Usage): EventCost {
  const infra = table.infrastructure ?? InfrastructureCost.fromPartial({});
  const infrastructureMicros = Math.round((usage.computeMs / 1000) * infra.acceleratorSecondMicros + infra.networkMicrosPerRequest);
  const t = modelPrice(table, model)?.training;
  const trainingMicros = t && t.amortizeOverRequests > 0 ? Math.round((t.dataCollectionMicros + t.labellingMicros + t.trainingComputeMicros) / t.amortizeOverRequests) : 0;
  return { infrastructureMicros, trainingMicros };
}

/** Daily fixed costs of a table: storage (infrastructure) and people (operations). */
export function dailyCosts(table: PriceTable): { storageMicros: number; peopleMicros: number } {
  return { storageMicros: table.infrastructure?.storageMicrosPerDay ?? 0, peopleMicros: table.operations?.peopleMicrosPerDay ?? 0 };
}

/** Checks a measured or estimated usage: every amount finite and non-negative. */
export function validateUsage(usage: Usage | undefined, field: string): Usage {
  if (!usage) throw invalidArgument(`${field} is required`);
  for (const [name, v] of Object.entries(usage)) {
    if (typeof v === 'number' && !isAmount(v)) throw invalidArgument(`${field}.${name} must be a finite amount >= 0 (got ${v})`);
  }
  return usage;
}

/** Tokens of a usage, the unit of the tokens-per-minute limit. */
export function tokensOf(usage: Usage): number {
  return usage.promptTokens + usage.completionTokens;
}
