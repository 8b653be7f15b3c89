import { defineConfig } from 'vitest/config';

// Suites start real PostgreSQL clusters, nats-server, billing processes and Chromium on a shared
// 2-core machine: generous timeouts, one file at a time.
export default defineConfig({
  test: {
    include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
