import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { addMetricsSource, registry, renderMetrics } from './metrics.js';

describe('renderMetrics', () => {
  it("sums a source's series into the registry's by name and labels, and stops once the source is removed", async () => {
    const name = 'keel_test_merged_total';
    const own = new Counter({ name, help: 'test', labelNames: ['k'] as const, registers: [registry] });
    own.inc({ k: 'a' }, 2);
    // A worker thread's registry, as DnsWorkers returns it.
    const worker = new Registry();
    new Counter({ name, help: 'test', labelNames: ['k'] as const, registers: [worker] }).inc({ k: 'a' }, 3);
    const remove = addMetricsSource(async () => [await worker.getMetricsAsJSON()]);
    try {
      expect(await renderMetrics()).toContain(`${name}{k="a"} 5`);
    } finally {
      remove();
    }
    expect(await renderMetrics()).toContain(`${name}{k="a"} 2`);
    registry.removeSingleMetric(name);
  });
});
