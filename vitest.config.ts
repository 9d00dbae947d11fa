import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: keep forks modest so Chromium and the servers under test get a core too.
    pool: 'forks',
    maxWorkers: 2,
  },
});
