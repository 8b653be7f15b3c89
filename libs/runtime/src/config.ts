/**
 * Typed configuration from the environment. A service declares a spec (variable name, parser,
 * default, description); {@link loadConfig} parses every variable, collects every problem, and
 * throws one {@link ConfigError} that names each bad variable.
 */

/** How one environment variable becomes one typed value. */
export interface ConfigField<T> {
  readonly env: string;
  readonly describe: string;
  readonly default: T | undefined;
  parse(raw: string): T;
}

/** Thrown by {@link loadConfig}; its message names every bad or missing variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

type Spec = Record<string, ConfigField<unknown>>;
/** The typed object a spec produces. */
export type ConfigOf<S extends Spec> = { readonly [K in keyof S]: S[K] extends ConfigField<infer T> ? T : never };

/** Parses `source` (default `process.env`) against `spec`; throws ConfigError listing every problem. */
export function loadConfig<S extends Spec>(spec: S, source: NodeJS.ProcessEnv = process.env): ConfigOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec)) {
    const raw = source[field.env];
    if (raw === undefined || raw === '') {
      if (field.default === undefined) problems.push(`${field.env} is required (${field.describe})`);
      else out[key] = field.default;
      continue;
    }
    try {
      out[key] = field.parse(raw);
    } catch (err) {
      problems.push(`${field.env}=${JSON.stringify(raw)}: ${(err as Error).message} (${field.describe})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

const field = <T>(env: string, describe: string, def: T | undefined, parse: (raw: string) => T): ConfigField<T> => ({
  env,
  describe,
  default: def,
  parse,
});

/** Field builders for {@link loadConfig} specs. */
export const env = {
  /** Any string; `undefined` default makes it required. */
  string: (name: string, describe: string, def?: string) => field(name, describe, def, (raw) => raw),

  /** An integer within [min, max]. */
  int: (name: string, describe: string, def: number | undefined, range: { min?: number; max?: number } = {}) =>
    field(name, describe, def, (raw) => {
      if (!/^-?\d+$/.test(raw.trim())) throw new Error('must be an integer');
      return inRange(Number(raw), range);
    }),

  /** A finite number within [min, max]. */
  number: (name: string, describe: string, def: number | undefined, range: { min?: number; max?: number } = {}) =>
    field(name, describe, def, (raw) => {
      const value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value)) throw new Error('must be a number');
      return inRange(value, range);
    }),

  /** A TCP port, 0-65535 (0 asks the OS for a free one). */
  port: (name: string, describe: string, def: number) =>
    field(name, describe, def, (raw) => {
      if (!/^\d+$/.test(raw.trim())) throw new Error('must be a port number');
      return inRange(Number(raw), { min: 0, max: 65535 });
    }),

  /** true/false, 1/0, yes/no. */
  bool: (name: string, describe: string, def: boolean) =>
    field(name, describe, def, (raw) => {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return true;
      if (['0', 'false', 'no', 'off'].includes(v)) return false;
      throw new Error('must be true or false');
    }),

  /** One of a fixed set of strings. */
  oneOf: <T extends string>(name: string, describe: string, values: readonly T[], def: T) =>
    field<T>(name, describe, def, (raw) => {
      if (!(values as readonly string[]).includes(raw)) throw new Error(`must be one of ${values.join(', ')}`);
      return raw as T;
    }),

  /** A URL with one of the given schemes. */
  url: (name: string, describe: string, def: string | undefined, schemes: string[]) =>
    field(name, describe, def, (raw) => {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new Error('must be a URL');
      }
      if (!schemes.includes(url.protocol.replace(/:$/, ''))) throw new Error(`must use ${schemes.join(' or ')}`);
      return raw;
    }),

  /** A gRPC target: host:port, or a dns:/// / unix: target. */
  address: (name: string, describe: string, def: string) =>
    field(name, describe, def, (raw) => {
      if (/^(dns|unix|ipv4|ipv6):/.test(raw)) return raw;
      if (!/^[\w.-]+:\d{1,5}$/.test(raw) && !/^\[[\da-f:]+\]:\d{1,5}$/i.test(raw)) throw new Error('must be host:port');
      return raw;
    }),
};

function inRange(value: number, { min, max }: { min?: number; max?: number }): number {
  if (min !== undefined && value < min) throw new Error(`must be >= ${min}`);
  if (max !== undefined && value > max) throw new Error(`must be <= ${max}`);
  return value;
}

/** Log levels, most verbose first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;

/** The variables every service reads; `grpcPort` and `metricsPort` defaults differ per service. */
export function commonConfig(defaults: { grpcPort: number; metricsPort: number }) {
  return {
    grpcHost: env.string('GRPC_HOST', 'interface the gRPC server binds', '0.0.0.0'),
    grpcPort: env.port('GRPC_PORT', 'gRPC port (0: any free port)', defaults.grpcPort),
    metricsPort: env.port('METRICS_PORT', 'port of the Prometheus /metrics endpoint (0: any free port)', defaults.metricsPort),
    natsUrl: env.url('NATS_URL', 'NATS server URL', 'nats://127.0.0.1:4222', ['nats', 'tls']),
    logLevel: env.oneOf('LOG_LEVEL', 'least severe level logged', LOG_LEVELS, 'info'),
    shutdownGraceMs: env.int('SHUTDOWN_GRACE_MS', 'time in-flight calls get to finish after SIGTERM', 10_000, { min: 0 }),
    tracesExporter: env.oneOf('OTEL_TRACES_EXPORTER', 'where spans go', ['none', 'otlp', 'console'] as const, 'none'),
    otlpEndpoint: env.string('OTEL_EXPORTER_OTLP_ENDPOINT', 'OTLP/HTTP collector endpoint', ''),
  };
}
