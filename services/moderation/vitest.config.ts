import { defineConfig } from 'vitest/config';

// Integration specs start a real nats-server, service replicas and ONNX worker threads on a
// shared 2-core machine: give them room.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
