import { initTelemetry, type Telemetry } from '@aigc/telemetry';
import { ConfigError, loadConfig, type commonConfig, type ConfigField, type ConfigOf } from './config.js';
import { createLogger, type Logger } from './logger.js';
import type { ServiceHost } from './service-host.js';

type Spec = Record<string, ConfigField<unknown>> & ReturnType<typeof commonConfig>;

/** What a service's entry point hands to {@link runService}. */
export interface ServiceMain<S extends Spec> {
  name: string;
  /** The config spec; must include {@link commonConfig}. */
  spec: S;
  /** Builds dependencies, binds and returns the started host. */
  start(config: ConfigOf<S>, base: { logger: Logger; telemetry: Telemetry }): Promise<ServiceHost>;
}

/**
 * The entry point of every service, as a story: load config (a bad value exits 2 with a message
 * naming the variable), start telemetry, build and start the service, then on SIGTERM/SIGINT go
 * NOT_SERVING, drain, close and exit 0.
 */
export async function runService<S extends Spec>(main: ServiceMain<S>): Promise<void> {
  let config: ConfigOf<S>;
  try {
    config = loadConfig(main.spec);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${main.name}: ${err.message}\n`);
    process.exit(2);
  }
  const common = config as ConfigOf<ReturnType<typeof commonConfig>>;
  const logger = createLogger({ level: common.logLevel, fields: { service: main.name } });
  const telemetry = initTelemetry({
    serviceName: main.name,
    exporter: common.tracesExporter,
    otlpEndpoint: common.otlpEndpoint || undefined,
  });
  try {
    const host = await main.start(config, { logger, telemetry });
    host.onShutdown(() => telemetry.shutdown());
    host.exitOnSignals();
  } catch (err) {
    logger.error('failed to start', { error: err });
    await telemetry.shutdown();
    process.exit(1);
  }
}
