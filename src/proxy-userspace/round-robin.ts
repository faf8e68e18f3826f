import { realClock, type Clock } from '../runtime/clock.js';
import type { PortalName } from './service-portals.js';

interface Affinity {
  endpoint: string;
  lastUsed: number;
}

interface PortState {
  endpoints: readonly string[];
  index: number;
  affinityMs: number | undefined;
  affinity: Map<string, Affinity>;
}

/**
 * Endpoint selection for the userspace proxy, as kube-proxy's LoadBalancerRR:
 * round-robin over ready endpoints ("ip:port"), and with ClientIP affinity a
 * client keeps its endpoint while it returns within the timeout. State per
 * service port survives endpoint updates, so only new connections move.
 */
export class RoundRobin {
  private readonly ports = new Map<PortalName, PortState>();

  constructor(private readonly clock: Clock = realClock) {}

  /** Sets a service port's endpoints and affinity; affinities to endpoints that left are forgotten. */
  update(name: PortalName, endpoints: readonly string[], affinitySeconds: number | undefined): void {
    const sorted = [...new Set(endpoints)].sort();
    const affinityMs = affinitySeconds === undefined ? undefined : affinitySeconds * 1000;
    const state = this.ports.get(name);
    if (!state) {
      this.ports.set(name, { endpoints: sorted, index: 0, affinityMs, affinity: new Map() });
      return;
    }
    if (affinityMs === undefined) state.affinity.clear();
    state.affinityMs = affinityMs;
    if (sameList(state.endpoints, sorted)) return;
    state.endpoints = sorted;
    state.index = sorted.length ? state.index % sorted.length : 0;
    const live = new Set(sorted);
    for (const [client, a] of state.affinity) if (!live.has(a.endpoint)) state.affinity.delete(client);
  }

  remove(name: PortalName): void {
    this.ports.delete(name);
  }

  endpoints(name: PortalName): readonly string[] {
    return this.ports.get(name)?.endpoints ?? [];
  }

  /**
   * The endpoint for a new connection from clientIP. `retry` is set after a
   * failed dial: it ignores and replaces the client's affinity so a dead
   * endpoint is not chosen again. clientIP may be a function: it is then
   * called only when the port has affinity (it costs the TCP proxy a
   * getpeername per connection).
   */
  next(name: PortalName, clientIP: string | (() => string), retry = false): string | undefined {
    const state = this.ports.get(name);
    if (!state || state.endpoints.length === 0) return undefined;
    if (state.affinityMs === undefined) return advance(state);
    const ip = typeof clientIP === 'string' ? clientIP : clientIP();
    const now = this.clock.now();
    if (!retry) {
      const held = state.affinity.get(ip);
      if (held && now - held.lastUsed < state.affinityMs) {
        held.lastUsed = now;
        return held.endpoint;
      }
    }
    const endpoint = advance(state);
    state.affinity.set(ip, { endpoint, lastUsed: now });
    return endpoint;
  }

  /** Drops expired affinities so clients that never return do not accumulate. */
  purgeExpired(): void {
    const now = this.clock.now();
    for (const state of this.ports.values()) {
      if (state.affinityMs === undefined) continue;
      for (const [client, a] of state.affinity) if (now - a.lastUsed >= state.affinityMs) state.affinity.delete(client);
    }
  }

  affinityCount(name: PortalName): number {
    return this.ports.get(name)?.affinity.size ?? 0;
  }
}

/** The next endpoint in turn; the caller has checked there is one. */
function advance(state: PortState): string {
  const endpoint = state.endpoints[state.index] as string;
  state.index = (state.index + 1) % state.endpoints.length;
  return endpoint;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
