import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each file starts its own platform; running them one at a time keeps a 2-core machine honest.
    fileParallelism: false,
  },
});
