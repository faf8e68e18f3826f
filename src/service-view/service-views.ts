import type { ClusterSnapshot, NamespacedName } from '../api/cluster-state.js';
import type { Endpoints } from '../api/endpoints.js';
import type { EndpointSlice } from '../api/endpoint-slice.js';
import { isKeelError } from '../api/errors.js';
import { subjectOf } from '../api/meta.js';
import type { Service } from '../api/service.js';
import { createLogger, type Logger } from '../observe/log.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import { watchMetrics } from '../watch/watch-metrics.js';
import { projectService } from './project-service.js';
import type { ServiceView } from './service-view.js';

export interface ServiceViewsOptions {
  /** The node endpoints are local to; absent (DNS) leaves every endpoint non-local. */
  readonly nodeName?: string | undefined;
  readonly logger?: Logger;
  /**
   * Off in a replica (a DNS worker thread) of views the agent thread also
   * projects: the worker's module copy has its own "reported once" sets, so
   * it would log and count every rejection a second time.
   */
  readonly reportRejections?: boolean;
  /** The services to project; any other is as if absent (the health check servers need only a few of 10k). */
  readonly only?: (svc: Service) => boolean;
}

/** A service's endpoints from either source: its v1 Endpoints, or its EndpointSlices. */
type EndpointsOf = Endpoints | readonly EndpointSlice[];

/** One shared empty group, so a service without slices keeps the same source between deliveries. */
const NO_SLICES: readonly EndpointSlice[] = [];

function isSlices(eps: EndpointsOf | undefined): eps is readonly EndpointSlice[] {
  return Array.isArray(eps);
}

/** A rejection is logged and counted once per pair of stored objects, however many consumers project it. */
const reported = new WeakMap<Service, EndpointsOf | undefined>();
/** Ignored entries depend on the Service alone: logged and counted once per stored object. */
const ignoredReported = new WeakSet<Service>();

/**
 * The service views one consumer reads, kept in step with the snapshots it
 * is delivered: only services whose Service or Endpoints object changed are
 * projected again. A service whose objects do not project is rejected on
 * its own (logged, counted in keel_watch_invalid_objects_total) and is
 * absent from the views, as if it did not exist. An entry the projection
 * leaves out (an externalIP that is no address, say) is logged and counted
 * in keel_watch_ignored_fields_total; the rest of the service is used.
 */
export class ServiceViews {
  private readonly views = new Map<NamespacedName, ServiceView>();
  /** The objects each key was last projected from, rejected ones included. */
  private readonly sources = new Map<NamespacedName, { svc: Service; eps: EndpointsOf | undefined }>();
  private ordered: readonly ServiceView[] | undefined;
  private readonly log: Logger;

  constructor(private readonly options: ServiceViewsOptions = {}) {
    this.log = options.logger?.child('service-view') ?? createLogger('service-view');
  }

  /** Projects the services a delivery touched (every one on a full delivery); returns the keys whose view appeared, changed or went. */
  apply(snapshot: ClusterSnapshot, changed: ChangedKeys): Set<NamespacedName> {
    const keys = changed.full
      ? new Set([...snapshot.services.keys(), ...this.sources.keys()])
      : new Set([...changed.services, ...changed.endpoints]);
    const out = new Set<NamespacedName>();
    const slices = snapshot.endpointSlices;
    for (const key of keys) {
      if (this.project(key, snapshot.services.get(key), slices ? (slices.get(key) ?? NO_SLICES) : snapshot.endpoints.get(key)))
        out.add(key);
    }
    if (out.size) this.ordered = undefined;
    return out;
  }

  get(key: NamespacedName): ServiceView | undefined {
    return this.views.get(key);
  }

  /** Every view, in key order. */
  all(): readonly ServiceView[] {
    this.ordered ??= [...this.views.keys()].sort().map((k) => this.views.get(k) as ServiceView);
    return this.ordered;
  }

  private project(key: NamespacedName, stored: Service | undefined, eps: EndpointsOf | undefined): boolean {
    const svc = stored && (this.options.only?.(stored) ?? true) ? stored : undefined;
    const held = this.sources.get(key);
    if (held && held.svc === svc && held.eps === eps) return false;
    const had = this.views.delete(key);
    if (!svc) {
      this.sources.delete(key);
      return had;
    }
    this.sources.set(key, { svc, eps });
    try {
      const view = isSlices(eps)
        ? projectService(svc, undefined, this.options.nodeName, eps)
        : projectService(svc, eps, this.options.nodeName);
      this.views.set(key, view);
      if (view.ignoredFields.length && this.options.reportRejections !== false && !ignoredReported.has(svc)) {
        ignoredReported.add(svc);
        const object = subjectOf('Service', svc.metadata.namespace, svc.metadata.name);
        for (const f of view.ignoredFields) {
          watchMetrics.ignoredFields.inc({ resource: 'services', field: f.field.replace(/\[\d+\]/g, '') });
          this.log.warn('ignoring an invalid entry; the rest of the service is used', {
            object,
            field: f.field,
            value: f.value.length > 64 ? `${f.value.slice(0, 64)}…` : f.value,
            reason: f.reason,
          });
        }
      }
      return true;
    } catch (err) {
      if (!isKeelError(err)) throw err;
      if (this.options.reportRejections !== false && (!reported.has(svc) || reported.get(svc) !== eps)) {
        reported.set(svc, eps);
        watchMetrics.invalid.inc({ resource: 'services' });
        this.log.warn('skipping service that does not project', { key, reason: err.message });
      }
      return had;
    }
  }
}

/** Every service of a snapshot, projected at once (offline compiles: `keel rules`, `keel trace`, tests). */
export function serviceViewsOf(snapshot: ClusterSnapshot, nodeName?: string): readonly ServiceView[] {
  const views = new ServiceViews({ nodeName });
  views.apply(snapshot, { services: new Set(), endpoints: new Set(), pods: new Set(), full: true });
  return views.all();
}
