import type { ClusterSnapshot } from '../api/cluster-state.js';
import type { PortRange } from '../ipam/node-ports.js';
import type { IptablesRunner } from '../kernel/iptables/restore-runner.js';
import { createLogger, type Logger } from '../observe/log.js';
import { Backoff } from '../runtime/backoff.js';
import { BoundedFrequencyRunner } from '../runtime/bounded-frequency-runner.js';
import { realClock, type Clock } from '../runtime/clock.js';
import { ServiceViews } from '../service-view/service-views.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import { portalEndpoints } from './portal-endpoints.js';
import {
  compilePortalRules,
  existingPortalJumps,
  portalRulesMatch,
  renderPortalCleanup,
  renderPortalRestore,
  type PortalNode,
} from './portal-rules.js';
import { proxyMetrics } from './proxy-metrics.js';
import { planProxyPorts } from './proxy-ports.js';
import { RoundRobin } from './round-robin.js';
import { servicePortals, type PortalName, type ServicePortal } from './service-portals.js';
import { TcpProxy } from './tcp-proxy.js';
import { NativeRelay, NativeTcpProxy } from './native-relay.js';
import { DEFAULT_UDP_TIMEOUT_MS, UdpProxy } from './udp-proxy.js';

export interface UserspaceProxierOptions {
  readonly runner: IptablesRunner;
  readonly node: PortalNode;
  /** `--proxy-port-range`; absent: any free port. */
  readonly portRange?: PortRange;
  /** `--udp-timeout` in ms. */
  readonly udpTimeoutMs?: number;
  /** Where listeners bind; 0.0.0.0 so REDIRECT (any local address) and DNAT to nodeIP both land. */
  readonly listenHost?: string;
  /** `--iptables-sync-period`: how often the kernel's portal rules are compared and repaired. */
  readonly syncPeriodMs?: number;
  readonly dialTimeoutsMs?: readonly number[];
  /** `--userspace-relay`: who moves TCP bytes, Node.js sockets or the native relay's thread (native-relay.ts). */
  readonly relay: UserspaceRelay;
  /** The native relay's worker entry, for tests that run from source. */
  readonly relayWorkerUrl?: URL;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export type UserspaceRelay = 'native' | 'node';

interface Listener {
  portal: ServicePortal;
  readonly proxy: TcpProxy | NativeTcpProxy | UdpProxy;
  readonly port: number;
}

/**
 * kube-proxy's userspace mode: a listener per service port, round-robin to
 * its endpoints, and portal rules steering service traffic to the listeners.
 * Listeners open before the rules that point at them and close after the
 * rules stop pointing at them, so no packet meets a closed port. As in the
 * iptables mode, `update()` only records a change; one bounded-frequency
 * runner syncs, compares the kernel's rules every sync period, and after a
 * failure syncs fully again after a backoff.
 */
export class UserspaceProxier {
  private readonly rr: RoundRobin;
  /** With `--userspace-relay native`: TCP ports are served by its thread, which keeps its own RoundRobin fed by route(). */
  private readonly native: NativeRelay | undefined;
  private readonly listeners = new Map<PortalName, Listener>();
  private readonly log: Logger;
  private readonly views: ServiceViews;
  private portals: readonly ServicePortal[] = [];
  /** Rules text last known to be in the kernel; a sync that renders the same text does not touch iptables. */
  private applied: string | undefined;
  private skipped = new Set<string>();
  private lastOk: number | undefined;
  private readonly clock: Clock;
  private readonly period: number;
  private readonly loop: BoundedFrequencyRunner;
  private snapshot: ClusterSnapshot | undefined;
  /** Changes recorded since the last sync began; full until a sync succeeds. */
  private changed = { services: new Set<string>(), endpoints: new Set<string>(), full: true };
  private lastCheck = Number.NEGATIVE_INFINITY;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: UserspaceProxierOptions) {
    this.clock = opts.clock ?? realClock;
    this.rr = new RoundRobin(this.clock);
    this.log = opts.logger ?? createLogger('proxy-userspace');
    this.native =
      opts.relay === 'native'
        ? new NativeRelay({ logger: this.log, ...(opts.relayWorkerUrl ? { workerUrl: opts.relayWorkerUrl } : {}) })
        : undefined;
    this.views = new ServiceViews({ logger: this.log });
    this.period = opts.syncPeriodMs ?? 30_000;
    this.loop = new BoundedFrequencyRunner({
      fn: () => this.syncRecorded(),
      minIntervalMs: 0,
      maxIntervalMs: this.period,
      backoff: new Backoff({ initialMs: 1_000, maxMs: this.period, jitter: false }),
      ready: () => this.snapshot !== undefined,
      clock: this.clock,
    });
  }

  /** Syncs what update() records until the signal aborts, then closes the listeners and removes the rules; resolves after the first successful sync. */
  start(signal: AbortSignal): Promise<void> {
    signal.addEventListener(
      'abort',
      () => {
        this.stop().catch((err: unknown) => this.log.error('cleanup failed', { error: String(err) }));
      },
      { once: true },
    );
    return this.loop.start(signal);
  }

  /** A ClusterWatch consumer: records the change and asks the runner for a sync; never syncs itself. */
  readonly update = (snapshot: ClusterSnapshot, changed: ChangedKeys): void => {
    this.snapshot = snapshot;
    for (const k of changed.services) this.changed.services.add(k);
    for (const k of changed.endpoints) this.changed.endpoints.add(k);
    if (changed.full) this.changed.full = true;
    this.loop.run();
  };

  /** Resolves once a sync that began after this call has ended (rejects with its error); for a driver that answers after each change. */
  flush(): Promise<void> {
    return this.loop.flush();
  }

  /** When the portal rules were last known to be right (a sync or the periodic check); for /healthz. */
  lastSuccess(): number | undefined {
    return this.lastOk;
  }

  /** One sync of the recorded changes; the kernel's rules are compared when full or once per sync period. */
  private async syncRecorded(): Promise<void> {
    const snapshot = this.snapshot;
    if (!snapshot) return;
    const changed = { ...this.changed, pods: new Set<string>() };
    this.changed = { services: new Set(), endpoints: new Set(), full: false };
    try {
      await this.sync(snapshot, changed, changed.full || this.clock.now() - this.lastCheck >= this.period);
    } catch (err) {
      this.changed.full = true;
      throw err;
    }
    this.rr.purgeExpired();
  }

  /** Brings listeners, round-robin state and portal rules in line with the snapshot; `checkKernel` compares the rules with the kernel's even when unchanged. */
  async sync(snapshot: ClusterSnapshot, changed: ChangedKeys, checkKernel = changed.full): Promise<void> {
    const touched = this.views.apply(snapshot, changed);
    const { portals, skipped } = servicePortals(this.views.all());
    this.report(skipped.map((s) => s.message));
    const wanted = new Map(portals.map((p) => [p.name, p]));
    const retiring: Listener[] = [];
    for (const [name, l] of this.listeners) {
      const p = wanted.get(name);
      if (!p || p.protocol !== l.portal.protocol) {
        retiring.push(l);
        this.listeners.delete(name);
        this.rr.remove(name);
        this.native?.unroute(name);
      }
    }
    for (const p of portals) {
      const held = this.listeners.get(p.name);
      if (held && !changed.full && !touched.has(p.service)) continue;
      const endpoints = portalEndpoints(p.view);
      this.rr.update(p.name, endpoints, p.affinitySeconds);
      if (p.protocol === 'TCP') this.native?.route(p.name, endpoints, p.affinitySeconds);
      if (held) held.portal = p;
      else await this.open(p);
    }
    this.portals = portals.filter((p) => this.listeners.has(p.name));
    try {
      await this.writeRules(checkKernel);
    } finally {
      for (const l of retiring) await l.proxy.close();
    }
  }

  /** Service port → local proxy port, as the rules use it. */
  proxyPorts(): Map<PortalName, number> {
    return new Map([...this.listeners].map(([name, l]) => [name, l.port]));
  }

  /** Removes the portal rules, then closes the listeners; a second call waits for the first. */
  stop(): Promise<void> {
    this.stopping ??= this.cleanup();
    return this.stopping;
  }

  private async cleanup(): Promise<void> {
    this.applied = undefined;
    try {
      const cleanup = renderPortalCleanup(await this.opts.runner.save('nat'));
      if (cleanup) await this.opts.runner.restore(cleanup, { noflush: true });
    } finally {
      for (const l of this.listeners.values()) await l.proxy.close();
      this.listeners.clear();
      await this.native?.stop();
    }
  }

  private async open(p: ServicePortal): Promise<void> {
    const pick = (clientIP: () => string, retry: boolean): string | undefined => this.rr.next(p.name, clientIP, retry);
    const host = this.opts.listenHost ?? '0.0.0.0';
    const unusable = new Set([...this.listeners.values()].map((l) => l.port));
    for (;;) {
      const port = this.opts.portRange ? planProxyPorts([p.name], this.opts.portRange, new Map(), unusable).get(p.name) : 0;
      if (port === undefined) {
        this.report([`service ${p.service}: port ${p.name}: no free port left in --proxy-port-range`], false);
        this.rr.remove(p.name);
        this.native?.unroute(p.name);
        return;
      }
      const dialTimeouts = this.opts.dialTimeoutsMs ? { dialTimeoutsMs: this.opts.dialTimeoutsMs } : {};
      const proxy =
        p.protocol === 'TCP' && this.native
          ? new NativeTcpProxy({ name: p.name, relay: this.native, ...dialTimeouts })
          : p.protocol === 'TCP'
            ? new TcpProxy({
                name: p.name,
                pick,
                logger: this.log,
                ...dialTimeouts,
              })
            : new UdpProxy({ name: p.name, pick, logger: this.log, timeoutMs: this.opts.udpTimeoutMs ?? DEFAULT_UDP_TIMEOUT_MS });
      try {
        const bound = await proxy.listen(port, host);
        this.listeners.set(p.name, { portal: p, proxy, port: bound });
        this.log.info('listening', { service_port: p.name, protocol: p.protocol, port: bound });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) {
          this.report([`service ${p.service}: port ${p.name}: cannot listen on ${host}:${port}: ${(err as Error).message}`], false);
          this.rr.remove(p.name);
          this.native?.unroute(p.name);
          return;
        }
        unusable.add(port);
      }
    }
  }

  /** Writes the portal rules unless the kernel already holds exactly them. */
  private async writeRules(checkKernel: boolean): Promise<void> {
    const rules = compilePortalRules(this.portals, this.opts.node, this.proxyPorts());
    const text = renderPortalRestore(rules);
    if (!checkKernel && text === this.applied) {
      this.lastOk = this.clock.now();
      return;
    }
    try {
      const saved = await this.opts.runner.save('nat');
      if (!portalRulesMatch(saved, rules)) {
        await this.opts.runner.restore(renderPortalRestore(rules, { presentJumps: existingPortalJumps(saved) }), { noflush: true });
      }
      this.applied = text;
      this.lastOk = this.clock.now();
      if (checkKernel) this.lastCheck = this.lastOk;
    } catch (err) {
      this.applied = undefined;
      proxyMetrics.ruleSyncFailures.inc();
      this.log.error('portal rules not applied', { error: err instanceof Error ? err.message : String(err) });
      throw err;
    }
  }

  /** Logs each problem once, when it first appears, and counts it. */
  private report(problems: readonly string[], replace = true): void {
    const fresh = problems.filter((m) => !this.skipped.has(m));
    for (const m of fresh) {
      proxyMetrics.skippedPorts.inc();
      this.log.warn(m);
    }
    this.skipped = replace ? new Set(problems) : new Set([...this.skipped, ...problems]);
  }
}
