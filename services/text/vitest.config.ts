import { defineConfig } from 'vitest/config';

// Specs run real ONNX models in worker threads (and one a real nats-server) on a shared machine:
// generous timeouts, one file at a time.
export default defineConfig({
  test: {
    include: ['src/**/*.spec.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
