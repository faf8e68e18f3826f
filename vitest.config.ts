import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/**
 * Files that put the machine under load on purpose (1,000 DNS queries/s, 10,000 services, 1,000
 * concurrent connections, 16 concurrent CLI processes, the fault suites): their budgets assume the
 * machine is theirs, so they run one at a time after everything else, with no other file beside them.
 */
const ALONE = [
  'test/faults/**/*.test.ts',
  'test/e2e/watch-informer.test.ts',
  'test/e2e/proxy-userspace.test.ts',
  'test/e2e/cli-objects.test.ts',
];

/**
 * The longest of the other files (CI seconds, session 5), started first so that the two workers end
 * together instead of one of them running a long file alone at the end; the rest follow in vitest's
 * own order (its duration cache when there is one, else file size), the unit tests filling the gaps.
 */
const LONGEST_FIRST = [
  'test/e2e/overlay.test.ts', // 72
  'test/e2e/sandbox-seed-000.test.ts', // 63
  'test/e2e/sandbox-seed-004.test.ts', // 60
  'test/e2e/overlay-ipv6.test.ts', // 41
  'test/e2e/cli-get.test.ts', // 37
  'test/e2e/sandbox-etcd-ha.test.ts', // 35
  'test/e2e/watch-resilience.test.ts', // 31
  'test/e2e/cli-describe.test.ts', // 15
  'test/e2e/sandbox-pods.test.ts', // 14
  'test/e2e/sandbox-demo.test.ts', // 14
];

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number => {
      const i = LONGEST_FIRST.findIndex((name) => f.moduleId.endsWith(name));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    globalSetup: ['test/support/etcd-global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // vitest's default in `run` is one worker per CPU less one: on a 2-CPU machine, every file in
    // turn. The e2e files mostly wait on processes, sockets and the kernel, so two run side by side
    // (each in its own namespaces, etcd key prefix or etcd).
    maxWorkers: 2,
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        extends: true,
        test: { name: 'shared', include: ['src/**/*.test.ts', 'test/**/*.test.ts'], exclude: ALONE },
      },
      {
        extends: true,
        test: {
          name: 'alone',
          include: ALONE,
          // After the shared group, in one fork: one file at a time.
          sequence: { groupOrder: 1 },
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
