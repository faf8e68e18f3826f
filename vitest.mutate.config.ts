import { defineConfig } from 'vitest/config';

/**
 * The unit tests of the pure modules that `npm run mutate` mutates: no etcd,
 * no sockets, no kernel, so Stryker can run them thousands of times.
 */
export default defineConfig({
  test: {
    include: [
      'src/proxy-iptables/{compile,sync-plan,chain-names,rule-text,render-restore,trace}*.test.ts',
      'src/dns/{answer,answer-cache,dns-names,record-sources,records,recursion-policy,response}*.test.ts',
      'src/dns/{wire-query,zone-file,zone-records}*.test.ts',
      'src/ipam/*.test.ts',
      'src/watch/change-tracker*.test.ts',
    ],
    // Pure modules keep no state between files: reusing one worker saves a module graph load per mutant.
    isolate: false,
  },
});
