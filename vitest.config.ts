import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/etcd-global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // netns/kernel suites share the host's netfilter and must not interleave.
    fileParallelism: true,
    pool: 'forks',
  },
});
