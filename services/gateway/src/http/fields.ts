import { badRequest } from './openai-error.js';

/**
 * Typed readers for request fields. Each returns the value or undefined when absent (or null),
 * and throws a 400 that names the field when the value has the wrong type or range.
 */
export class Fields {
  constructor(private readonly body: Record<string, unknown>) {}

  private raw(name: string): unknown {
    const value = this.body[name];
    return value === null ? undefined : value;
  }

  string(name: string, options: { required?: boolean; maxLength?: number; allowEmpty?: boolean } = {}): string | undefined {
    const value = this.raw(name);
    if (value === undefined) {
      if (options.required) throw badRequest(`'${name}' is required`, name);
      return undefined;
    }
    if (typeof value !== 'string') throw badRequest(`'${name}' must be a string, got ${describe(value)}`, name);
    if (!options.allowEmpty && value.length === 0 && options.required) throw badRequest(`'${name}' must not be empty`, name);
    if (options.maxLength !== undefined && value.length > options.maxLength) throw badRequest(`'${name}' must be at most ${options.maxLength} characters`, name);
    return value;
  }

  number(name: string, range: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw badRequest(`'${name}' must be a number, got ${describe(value)}`, name);
    if (range.integer && !Number.isInteger(value)) throw badRequest(`'${name}' must be an integer, got ${value}`, name);
    if (range.min !== undefined && value < range.min) throw badRequest(`'${name}' must be >= ${range.min}, got ${value}`, name);
    if (range.max !== undefined && value > range.max) throw badRequest(`'${name}' must be <= ${range.max}, got ${value}`, name);
    return value;
  }

  boolean(name: string): boolean | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') throw badRequest(`'${name}' must be a boolean, got ${describe(value)}`, name);
    return value;
  }

  /** A string or an array of strings, as OpenAI's `stop` and `input` fields are. */
  strings(name: string, options: { required?: boolean; maxItems?: number; maxLength?: number } = {}): string[] | undefined {
    const value = this.raw(name);
    if (value === undefined) {
      if (options.required) throw badRequest(`'${name}' is required`, name);
      return undefined;
    }
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || list.some((v) => typeof v !== 'string')) throw badRequest(`'${name}' must be a string or an array of strings`, name);
    if (options.maxItems !== undefined && list.length > options.maxItems) throw badRequest(`'${name}' takes at most ${options.maxItems} items`, name);
    if (options.maxLength !== undefined && list.some((v: string) => v.length > options.maxLength!)) throw badRequest(`each '${name}' item must be at most ${options.maxLength} characters`, name);
    return list as string[];
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!(values as readonly string[]).includes(value)) throw badRequest(`'${name}' must be one of ${values.join(', ')}, got ${JSON.stringify(value)}`, name);
    return value as T;
  }

  object(name: string): Record<string, unknown> | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) throw badRequest(`'${name}' must be an object`, name);
    return value as Record<string, unknown>;
  }

  array(name: string, options: { required?: boolean; maxItems?: number } = {}): unknown[] | undefined {
    const value = this.raw(name);
    if (value === undefined) {
      if (options.required) throw badRequest(`'${name}' is required`, name);
      return undefined;
    }
    if (!Array.isArray(value)) throw badRequest(`'${name}' must be an array, got ${describe(value)}`, name);
    if (options.maxItems !== undefined && value.length > options.maxItems) throw badRequest(`'${name}' takes at most ${options.maxItems} items`, name);
    return value;
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value).slice(0, 40)}`;
}
