import { trace, context } from '@opentelemetry/api';

/** Severity of a log record. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Structured logger injected into every component; fields are merged into the JSON record. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger whose records carry `fields` too (e.g. the component name). */
  child(fields: Record<string, unknown>): Logger;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  /** Where each JSON line goes; standard output by default. */
  sink?: (line: string) => void;
  fields?: Record<string, unknown>;
}

/**
 * A JSON-lines logger. Each record carries time, level, message, the bound fields, and the
 * trace and span ids of the active span, so logs and traces join up. Errors in fields are
 * rendered with their name, message and stack.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = rank[options.level ?? 'info'];
  const sink = options.sink ?? ((line: string) => process.stdout.write(line + '\n'));
  const bound = options.fields ?? {};

  const write = (level: Exclude<LogLevel, 'silent'>, message: string, fields?: Record<string, unknown>): void => {
    if (rank[level] < threshold) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level, msg: message, ...bound };
    const span = trace.getSpan(context.active())?.spanContext();
    if (span) {
      record.trace_id = span.traceId;
      record.span_id = span.spanId;
    }
    for (const [key, value] of Object.entries(fields ?? {})) record[key] = value instanceof Error ? describeError(value) : value;
    sink(JSON.stringify(record));
  };

  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ level: options.level, sink, fields: { ...bound, ...fields } }),
  };
}

function describeError(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: err.message, stack: err.stack };
  if ('code' in err) out.code = (err as { code: unknown }).code;
  if (err.cause !== undefined) out.cause = err.cause instanceof Error ? describeError(err.cause) : String(err.cause);
  return out;
}

/** A logger that drops everything; for components built without one. */
export const silentLogger: Logger = createLogger({ level: 'silent' });
