/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/**
 * The logger this lib writes to; injected by the service (never `console`), so lines carry the
 * service's trace ids and go where the service sends its logs.
 */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

/** A logger that drops everything; the default when none is injected. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
