import { namespacedName } from '../api/cluster-state.js';
import { isKeelError } from '../api/errors.js';
import type { Pod, PodStatus } from '../api/pod.js';
import { DEFAULT_NODE_PORT_RANGE, parsePortRange } from '../ipam/node-ports.js';
import { parseServiceRange } from '../ipam/service-ips.js';
import { createLogger, type Logger } from '../observe/log.js';
import { ObjectRegistry } from '../registry/object-registry.js';
import { Backoff } from '../runtime/backoff.js';
import { BoundedFrequencyRunner } from '../runtime/bounded-frequency-runner.js';
import { realClock, type Clock } from '../runtime/clock.js';
import type { KvStore } from '../store/kv-store.js';
import { ObjectStore, encodeForStorage } from '../store/object-store.js';
import { ClusterWatch } from '../watch/cluster-watch.js';
import { Informer } from '../watch/informer.js';
import { desiredEndpoints, planEndpointWrites } from './endpoints-controller.js';
import { listPodRecords, type PodRecord } from './pod-records.js';
import { podAlive, podReady, startPod, stopPod } from './pod-runner.js';
import { planReplication, randomPodName } from './replication.js';
import type { SandboxState } from './sandbox-state.js';
import { decodeStoredWorkload, type Workload } from './workload.js';
import { workloadPrefix } from './workload-store.js';

export interface ControllerOptions {
  state: SandboxState;
  kv: KvStore;
  prefix: string;
  /** Where Debian's programs for images are looked for (PATH-style; `keel up --program-path`). */
  programPath: string;
  /** How often pod processes and readiness are checked (default 200 ms). */
  pollMs?: number;
  logger?: Logger;
  clock?: Clock;
}

/**
 * The sandbox's control plane: kubelet (pods on the sandbox nodes), the
 * replication/deployment controllers with the scheduler, and the
 * endpoints controller. Each sync reads the watch caches and writes only
 * differences; pod starts and stops run in the background, one per pod.
 * Watch events and finished pod starts/stops ask the runner for a sync; it
 * also syncs every poll period (pod processes have no watch).
 */
export class SandboxController {
  private readonly watch: ClusterWatch;
  private readonly workloads: Informer<Workload>[];
  private readonly registry: ObjectRegistry;
  private readonly objects: ObjectStore;
  private readonly log: Logger;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly reported = new Map<string, string>();
  /** Writes the watch has not shown yet (kube-controller-manager's expectations): without them a quick second sync would act twice. */
  private readonly expectCreated = new Map<string, { pod: Pod; at: number }>();
  private readonly expectDeleted = new Map<string, number>();
  private readonly clock: Clock;
  private readonly loop: BoundedFrequencyRunner;

  constructor(private readonly options: ControllerOptions) {
    const { kv, prefix } = options;
    this.log = options.logger ?? createLogger('sandbox-controller');
    this.clock = options.clock ?? realClock;
    const pollMs = options.pollMs ?? 200;
    this.loop = new BoundedFrequencyRunner({
      fn: () => this.sync(),
      minIntervalMs: 0,
      maxIntervalMs: pollMs,
      backoff: new Backoff({ initialMs: pollMs, maxMs: 5_000 }),
      clock: this.clock,
      onError: (err) => this.log.error('sync failed', { error: String(err) }),
    });
    this.watch = new ClusterWatch({ store: kv, prefix, logger: this.log });
    this.workloads = (['ReplicationController', 'Deployment'] as const).map(
      (kind) =>
        new Informer<Workload>({
          store: kv,
          prefix: workloadPrefix(prefix, kind),
          resource: kind.toLowerCase(),
          logger: this.log,
          decode: (key, value) => decodeStoredWorkload(key, value),
        }),
    );
    this.objects = new ObjectStore(kv, prefix);
    this.registry = new ObjectRegistry(this.objects, {
      ipam: { serviceRanges: parseServiceRange('10.96.0.0/12'), nodePorts: parsePortRange(DEFAULT_NODE_PORT_RANGE) },
    });
  }

  /** Syncs once every watch has listed, then until the signal aborts; resolves after the first successful sync. */
  async start(signal: AbortSignal): Promise<void> {
    this.watch.subscribe(() => this.loop.run());
    for (const w of this.workloads) w.subscribe(() => this.loop.run());
    await Promise.all([this.watch.start(signal), ...this.workloads.map((w) => w.start(signal))]);
    const synced = this.loop.start(signal);
    this.loop.run();
    await synced;
  }

  async sync(): Promise<void> {
    const { state } = this.options;
    const snap = this.watch.current();
    const pods = [...snap.pods.values()];
    // Taken before the records are read: a record read while its start is still running is incomplete.
    const busy = new Set(this.inFlight.keys());
    const records = new Map(listPodRecords(state.runDir).map((r) => [namespacedName(r.namespace, r.name), r]));
    const nodes = new Set(state.nodes.map((n) => n.name));

    for (const [key, rec] of records) {
      if (busy.has(key)) continue;
      const pod = snap.pods.get(key);
      if (!pod || (pod.metadata.uid ?? pod.metadata.name) !== rec.uid || pod.spec.nodeName !== rec.node)
        this.background(key, () => stopPod(state, rec), 'stopped');
    }
    for (const pod of pods) {
      const key = namespacedName(pod.metadata.namespace, pod.metadata.name);
      if (busy.has(key) || this.inFlight.has(key)) continue;
      const rec = records.get(key);
      if (rec) {
        if ((pod.metadata.uid ?? pod.metadata.name) === rec.uid) await this.writeStatus(pod, rec);
        continue;
      }
      const phase = pod.status?.phase;
      if (pod.spec.nodeName && nodes.has(pod.spec.nodeName) && phase !== 'Failed' && phase !== 'Succeeded') {
        this.background(
          key,
          async () => {
            await startPod(state, pod, snap.services.values(), {
              programPath: this.options.programPath,
              log: (line) => this.log.warn(line),
            });
          },
          'started',
        );
      }
    }

    const workloads = this.workloads.flatMap((w) => [...w.items().values()]);
    const plan = planReplication(
      workloads,
      this.expected(snap.pods),
      state.nodes.map((n) => n.name),
      randomPodName,
    );
    for (const pod of plan.create) {
      const key = namespacedName(pod.metadata.namespace, pod.metadata.name);
      this.expectCreated.set(key, { pod, at: this.clock.now() });
      await this.attempt(`create pod ${key}`, () => this.registry.apply(pod));
    }
    for (const ref of plan.remove) {
      const key = namespacedName(ref.namespace, ref.name);
      this.expectDeleted.set(key, this.clock.now());
      await this.attempt(`delete pod ${key}`, () => this.registry.delete('Pod', ref.namespace, ref.name));
    }
    for (const { pod, nodeName } of plan.bind)
      await this.attempt(`bind pod ${pod.metadata.namespace}/${pod.metadata.name} to ${nodeName}`, () =>
        this.update(pod, { ...pod, spec: { ...pod.spec, nodeName } }),
      );

    const writes = planEndpointWrites(desiredEndpoints(snap.services.values(), pods), snap.endpoints);
    for (const e of writes.apply)
      await this.attempt(`endpoints ${e.metadata.namespace}/${e.metadata.name}`, () => this.registry.apply(e), true);
    for (const key of writes.remove) {
      const [ns = '', name = ''] = key.split('/');
      await this.attempt(`delete endpoints ${key}`, () => this.registry.delete('Endpoints', ns, name));
    }
  }

  /** The cached pods with this controller's own unseen creates added and unseen deletes removed (each expectation lasts at most 10 s). */
  private expected(cached: ReadonlyMap<string, Pod>): Pod[] {
    const now = this.clock.now();
    for (const [key, e] of this.expectCreated) if (cached.has(key) || now - e.at > 10_000) this.expectCreated.delete(key);
    for (const [key, at] of this.expectDeleted) if (!cached.has(key) || now - at > 10_000) this.expectDeleted.delete(key);
    return [
      ...[...cached].filter(([key]) => !this.expectDeleted.has(key)).map(([, p]) => p),
      ...[...this.expectCreated.values()].map((e) => e.pod),
    ];
  }

  private async writeStatus(pod: Pod, rec: PodRecord): Promise<void> {
    const node = this.options.state.nodes.find((n) => n.name === rec.node);
    const alive = podAlive(rec);
    const ready = alive && podReady(rec, pod);
    const status: PodStatus = {
      phase: alive ? 'Running' : 'Failed',
      ...(node ? { hostIP: node.ip } : {}),
      ...(rec.podIP ? { podIP: rec.podIP, podIPs: (rec.podIPs ?? [rec.podIP]).map((ip) => ({ ip })) } : {}),
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      // imageID names what runs for the image, as a container runtime names the image it pulled.
      containerStatuses: pod.spec.containers.map((c, i) => ({ name: c.name, ready, imageID: rec.programs?.[i] ?? '' })),
    };
    // A pod that failed stays failed: its replacement is a new pod.
    if (pod.status?.phase === 'Failed') return;
    if (canonicalStatus(pod.status) === canonicalStatus(status)) return;
    await this.attempt(`status of pod ${pod.metadata.namespace}/${pod.metadata.name}`, () => this.update(pod, { ...pod, status }), true);
  }

  /** A write at the revision the cache holds: a pod deleted or changed meanwhile is never resurrected. */
  private async update(seen: Pod, next: Pod): Promise<void> {
    const key = this.objects.key('Pod', seen.metadata.namespace, seen.metadata.name);
    await this.options.kv.txn(
      [{ key, modRevision: Number(seen.metadata.resourceVersion ?? 0) }],
      [{ put: key, value: encodeForStorage(next) }],
    );
  }

  private async attempt(what: string, fn: () => Promise<unknown>, quiet = false): Promise<void> {
    try {
      await fn();
      if (!quiet) this.log.info(what);
    } catch (err) {
      if (isKeelError(err, 'KEEL_NOT_FOUND')) return;
      this.log.warn(`${what} failed`, { error: isKeelError(err) ? err.message : String(err) });
    }
  }

  /** Runs one start or stop per pod at a time; a failure is logged once per distinct message and retried on a later sync. */
  private background(key: string, fn: () => Promise<void>, done: string): void {
    if (this.inFlight.has(key)) return;
    const task = fn()
      .then(
        () => {
          this.reported.delete(key);
          this.log.info(`pod ${key} ${done}`);
        },
        (err: unknown) => {
          const msg = isKeelError(err) ? err.message : String(err);
          if (this.reported.get(key) !== msg) this.log.warn(`pod ${key}: ${msg}`);
          this.reported.set(key, msg);
        },
      )
      .finally(() => {
        this.inFlight.delete(key);
        this.loop.run();
      });
    this.inFlight.set(key, task);
  }
}

/** Key order differs between what etcd returned and what is built here; the content decides. */
function canonicalStatus(s: PodStatus | undefined): string {
  return JSON.stringify(s ?? null, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
