import { expect } from 'vitest';
import type { Tally } from '../e2e/proxy-iptables-traffic.js';

/**
 * Asserts that a run of calls through a service spread over its endpoints: no call failed, exactly
 * `pods` answered, and each of them answered at least `min` of the calls (a share, 0 to 1; with the
 * default 0, at least once). The tally goes into every message, so a failure shows the whole spread.
 */
export function expectSpread(t: Tally, pods: readonly string[], min = 0, label = ''): void {
  const seen = `${label ? `${label}: ` : ''}${JSON.stringify(t)}`;
  expect(t.errors, seen).toEqual({});
  expect(Object.keys(t.answers).sort(), seen).toEqual([...pods].sort());
  const total = Object.values(t.answers).reduce((a, b) => a + b, 0);
  for (const pod of pods) expect((t.answers[pod] ?? 0) / total, `${pod}'s share, ${seen}`).toBeGreaterThanOrEqual(min);
}
