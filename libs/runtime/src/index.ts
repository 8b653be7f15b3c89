export * from './errors.js';
export { ConfigError, commonConfig, env, loadConfig, LOG_LEVELS, type ConfigField, type ConfigOf } from './config.js';
export { createLogger, silentLogger, type Logger, type LoggerOptions, type LogLevel } from './logger.js';
export { MetadataKeys, metadataValue, raceSignal, type CallContext } from './call-context.js';
export type {
  BidiStreamHandler,
  ClientStreamHandler,
  HandlerFor,
  MethodShape,
  ServerStreamHandler,
  ServiceHandlers,
  UnaryHandler,
} from './handlers.js';
export { unimplementedHandlers } from './handlers.js';
export { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker.js';
export { findProtoDir, ServiceHost, type HostState, type ServiceHostOptions } from './service-host.js';
export {
  callServerStream,
  callUnary,
  createClient,
  forward,
  type CallOptionsAsync,
  type StreamRequestOf,
  type StreamResponseOf,
  type UnaryRequestOf,
  type UnaryResponseOf,
} from './client.js';
export { runService, type ServiceMain } from './main.js';
