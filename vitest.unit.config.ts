import { readdirSync, readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/**
 * `npm run test:unit`: the tests beside the code that need neither etcd nor
 * root — pure functions, the verifying fakes, loopback sockets — in seconds.
 * A test under src/ that opens the shared etcd (through test/support/etcd.ts)
 * is left to `npm test`, which starts that etcd in its global setup; finding
 * them by that import keeps this list right as tests are added.
 */
const needsEtcd = readdirSync('src', { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => `src/${f}`)
  .filter((f) => readFileSync(f, 'utf8').includes('test/support/etcd'));

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    exclude: needsEtcd,
    pool: 'forks',
  },
});
