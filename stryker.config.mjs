// Mutation testing of keel's pure modules: `npm run mutate` (not part of `npm test`) runs
// Stryker once per module, one after the other, each with its own incremental file so a
// second run re-tests only mutants in changed code or covered by changed tests.
// One module: `MUTATE_MODULE=ipam npx stryker run`. Reports: reports/mutation/<module>/.

/** The pure modules: compile/plan, answer/records, allocation, change tracking. */
const modules = {
  'proxy-iptables': [
    'src/proxy-iptables/compile*.ts',
    'src/proxy-iptables/sync-plan.ts',
    'src/proxy-iptables/chain-names.ts',
    'src/proxy-iptables/rule-text.ts',
    'src/proxy-iptables/render-restore.ts',
  ],
  // Every dns file that is a pure function of its input; not the handler (cache, metrics, forwarder),
  // the sockets (server, forward, dns-client) or the wiring (dns-service).
  dns: [
    'src/dns/{answer,answer-cache,dns-names,record-sources,records,recursion-policy,response}.ts',
    'src/dns/{wire-query,zone-file,zone-records}.ts',
  ],
  ipam: ['src/ipam/*.ts'],
  watch: ['src/watch/change-tracker.ts'],
};

const name = process.env.MUTATE_MODULE ?? '';
const files = modules[name];
if (files === undefined) {
  throw new Error(`MUTATE_MODULE must be one of ${Object.keys(modules).join(', ')} (got "${name}")`);
}
const out = `reports/mutation/${name}`;

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts' },
  // MUTATE_NO_CHECK=1 skips the TypeScript checker (~3/4 of the CPU time here): mutants that would not
  // compile then run too, and mostly count as killed. Scores in notes say which mode they come from.
  checkers: process.env.MUTATE_NO_CHECK ? [] : ['typescript'],
  // Only the mutated modules and their tests: checking the whole project per mutant is ten times slower.
  tsconfigFile: 'tsconfig.mutate.json',
  coverageAnalysis: 'perTest',
  mutate: [...files, '!src/**/*.test.ts'],
  // The 2-core machine is shared: never more than two test processes.
  concurrency: 2,
  incremental: true,
  incrementalFile: `${out}/incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `${out}/index.html` },
  jsonReporter: { fileName: `${out}/report.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportMutants: false },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 80, break: 80 },
};
