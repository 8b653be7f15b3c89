import { defineConfig } from 'vitest/config';

// Specs run real ONNX models in worker threads and a real nats-server on a shared CPU: be generous.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
