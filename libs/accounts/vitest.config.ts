import { defineConfig } from 'vitest/config';

// Specs start a real nats-server; give them room on slow CI machines.
export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
