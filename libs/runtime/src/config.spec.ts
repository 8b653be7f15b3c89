import { describe, expect, it } from 'vitest';
import { commonConfig, ConfigError, env, loadConfig } from './index.js';

const spec = {
  ...commonConfig({ grpcPort: 50053, metricsPort: 9463 }),
  modelDir: env.string('MODEL_REPOSITORY', 'model repository path'),
  upstream: env.address('TEXT_ADDR', 'text server', '127.0.0.1:50053'),
};

describe('loadConfig', () => {
  it('fills defaults and parses typed values', () => {
    const config = loadConfig(spec, { MODEL_REPOSITORY: '/models', GRPC_PORT: '0', LOG_LEVEL: 'warn' });
    expect(config).toMatchObject({ grpcPort: 0, metricsPort: 9463, logLevel: 'warn', modelDir: '/models', shutdownGraceMs: 10_000 });
  });

  it('names every bad or missing variable in one error', () => {
    let error: unknown;
    try {
      loadConfig(spec, { GRPC_PORT: '70000', LOG_LEVEL: 'loud', SHUTDOWN_GRACE_MS: '1.5', TEXT_ADDR: 'nohost' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain('GRPC_PORT="70000": must be <= 65535');
    expect(message).toContain('LOG_LEVEL="loud": must be one of debug, info, warn, error, silent');
    expect(message).toContain('SHUTDOWN_GRACE_MS="1.5": must be an integer');
    expect(message).toContain('TEXT_ADDR="nohost": must be host:port');
    expect(message).toContain('MODEL_REPOSITORY is required');
    expect((error as ConfigError).problems).toHaveLength(5);
  });

  it('rejects a NATS URL with the wrong scheme', () => {
    expect(() => loadConfig(spec, { MODEL_REPOSITORY: 'm', NATS_URL: 'http://x:1' })).toThrow(/NATS_URL="http:\/\/x:1": must use nats or tls/);
  });
});
