import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // generous, so a loaded machine gives a slow pass, never a timeout (the slowest test takes
    // ~40 s on a quiet 2-core machine; the science lives in examples/ and bench/)
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
