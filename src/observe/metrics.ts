import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The one registry every component registers its metrics on; `/metrics`
 * serves it. Metric objects are created at module load of the component
 * that owns them, named `keel_<component>_…` unless kube-proxy already has
 * a name for the same figure.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'keel_process_' });
