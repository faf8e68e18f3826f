import type { ClusterSnapshot } from '../api/cluster-state.js';
import type { PortRange } from '../ipam/node-ports.js';
import type { IptablesRunner } from '../kernel/iptables/restore-runner.js';
import { createLogger, type Logger } from '../observe/log.js';
import type { ChangedKeys } from '../watch/snapshot-delivery.js';
import { portalEndpoints } from './portal-endpoints.js';
import {
  compilePortalRules, existingPortalJumps, portalRulesMatch, renderPortalCleanup, renderPortalRestore, type PortalNode,
} from './portal-rules.js';
import { proxyMetrics } from './proxy-metrics.js';
import { planProxyPorts } from './proxy-ports.js';
import { RoundRobin, systemClock, type Clock } from './round-robin.js';
import { servicePortals, type ServicePortal, type ServicePortName } from './service-portals.js';
import { TcpProxy } from './tcp-proxy.js';
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
  readonly clock?: Clock;
  readonly logger?: Logger;
}

interface Listener {
  portal: ServicePortal;
  readonly proxy: TcpProxy | UdpProxy;
  readonly port: number;
}

/**
 * kube-proxy's userspace mode: a listener per service port, round-robin to
 * its endpoints, and portal rules steering service traffic to the listeners.
 * Listeners open before the rules that point at them and close after the
 * rules stop pointing at them, so no packet meets a closed port.
 */
export class UserspaceProxier {
  private readonly rr: RoundRobin;
  private readonly listeners = new Map<ServicePortName, Listener>();
  private readonly log: Logger;
  private portals: readonly ServicePortal[] = [];
  /** Rules text last known to be in the kernel; a sync that renders the same text does not touch iptables. */
  private applied: string | undefined;
  private skipped = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  /** Rule writes run one at a time, so a periodic repair never lands after (and undoes) a newer sync. */
  private rulesQueue: Promise<void> = Promise.resolve();
  private lastOk: number | undefined;

  constructor(private readonly opts: UserspaceProxierOptions) {
    this.rr = new RoundRobin(opts.clock ?? systemClock);
    this.log = opts.logger ?? createLogger('proxy-userspace');
  }

  /** Starts the periodic rule repair and affinity purge; on abort, closes listeners and removes the rules. */
  async start(signal: AbortSignal): Promise<void> {
    const period = this.opts.syncPeriodMs ?? 30_000;
    this.timers.push(setInterval(() => {
      this.applyRules(true).catch(() => { /* logged and counted in applyRules; retried next period */ });
    }, period));
    this.timers.push(setInterval(() => this.rr.purgeExpired(), 10_000));
    signal.addEventListener('abort', () => {
      this.stop().catch((err: unknown) => this.log.error('cleanup failed', { error: String(err) }));
    }, { once: true });
  }

  /** When the portal rules were last known to be right (a sync or the periodic check); for /healthz. */
  lastSuccess(): number | undefined {
    return this.lastOk;
  }

  async sync(snapshot: ClusterSnapshot, changed: ChangedKeys): Promise<void> {
    const { portals, skipped } = servicePortals(snapshot);
    this.report(skipped.map((s) => s.message));
    const wanted = new Map(portals.map((p) => [p.name, p]));
    const retiring: Listener[] = [];
    for (const [name, l] of this.listeners) {
      const p = wanted.get(name);
      if (!p || p.protocol !== l.portal.protocol) {
        retiring.push(l);
        this.listeners.delete(name);
        this.rr.remove(name);
      }
    }
    for (const p of portals) {
      const held = this.listeners.get(p.name);
      const touched = changed.full || changed.services.has(p.service) || changed.endpoints.has(p.service);
      if (held && !touched) continue;
      this.rr.update(p.name, portalEndpoints(p, snapshot.endpoints.get(p.service)), p.affinitySeconds);
      if (held) held.portal = p;
      else await this.open(p);
    }
    this.portals = portals.filter((p) => this.listeners.has(p.name));
    try {
      await this.applyRules(changed.full);
    } finally {
      for (const l of retiring) await l.proxy.close();
    }
  }

  /** Service port → local proxy port, as the rules use it. */
  proxyPorts(): Map<ServicePortName, number> {
    return new Map([...this.listeners].map(([name, l]) => [name, l.port]));
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.applied = undefined;
    try {
      const cleanup = renderPortalCleanup(await this.opts.runner.save('nat'));
      if (cleanup) await this.opts.runner.restore(cleanup, { noflush: true });
    } finally {
      for (const l of this.listeners.values()) await l.proxy.close();
      this.listeners.clear();
    }
  }

  private async open(p: ServicePortal): Promise<void> {
    const pick = (clientIP: string, retry: boolean): string | undefined => this.rr.next(p.name, clientIP, retry);
    const host = this.opts.listenHost ?? '0.0.0.0';
    const unusable = new Set([...this.listeners.values()].map((l) => l.port));
    for (;;) {
      const port = this.opts.portRange ? planProxyPorts([p.name], this.opts.portRange, new Map(), unusable).get(p.name) : 0;
      if (port === undefined) {
        this.report([`service ${p.service}: port ${p.name}: no free port left in --proxy-port-range`], false);
        this.rr.remove(p.name);
        return;
      }
      const proxy = p.protocol === 'TCP'
        ? new TcpProxy({ name: p.name, pick, logger: this.log, ...(this.opts.dialTimeoutsMs ? { dialTimeoutsMs: this.opts.dialTimeoutsMs } : {}) })
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
          return;
        }
        unusable.add(port);
      }
    }
  }

  private applyRules(checkKernel: boolean): Promise<void> {
    const run = this.rulesQueue.then(() => this.writeRules(checkKernel));
    this.rulesQueue = run.catch(() => {});
    return run;
  }

  /** Writes the portal rules unless the kernel already holds exactly them. */
  private async writeRules(checkKernel: boolean): Promise<void> {
    const rules = compilePortalRules(this.portals, this.opts.node, this.proxyPorts());
    const text = renderPortalRestore(rules);
    if (!checkKernel && text === this.applied) {
      this.lastOk = Date.now();
      return;
    }
    try {
      const saved = await this.opts.runner.save('nat');
      if (!portalRulesMatch(saved, rules)) {
        await this.opts.runner.restore(renderPortalRestore(rules, { presentJumps: existingPortalJumps(saved) }), { noflush: true });
      }
      this.applied = text;
      this.lastOk = Date.now();
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
