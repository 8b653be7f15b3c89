import { defineConfig } from 'vitest/config';

// Specs run real espeak-ng processes, real ONNX Runtime worker threads and a real nats-server on a
// shared 2-core machine: generous timeouts, one file at a time.
export default defineConfig({
  test: {
    include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
