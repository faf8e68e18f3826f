import { AggregatorRegistry, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The one registry every component registers its metrics on; `/metrics`
 * serves it. Metric objects are created at module load of the component
 * that owns them, named `keel_<component>_…` unless kube-proxy already has
 * a name for the same figure.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'keel_process_' });

type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** Threads with their own prom-client registry (DNS workers): each returns its registries' metrics as JSON. */
const sources = new Set<() => Promise<MetricsJson[]>>();

/** Adds a source whose metrics `/metrics` sums with the registry's own; returns its removal. */
export function addMetricsSource(source: () => Promise<MetricsJson[]>): () => void {
  sources.add(source);
  return () => sources.delete(source);
}

/** The `/metrics` text: the registry, summed with every source's metrics of the same name and labels. */
export async function renderMetrics(): Promise<string> {
  if (sources.size === 0) return registry.metrics();
  const extra = (await Promise.all([...sources].map((s) => s()))).flat();
  return AggregatorRegistry.aggregate([await registry.getMetricsAsJSON(), ...extra]).metrics();
}
