import type { BackendFactory } from './backend.js';
import { planHostGw } from './plan-host-gw.js';

export const hostGw: BackendFactory = {
  type: 'host-gw',
  async setup(ctx) {
    const families = new Set<4 | 6>([...(ctx.config.enableIPv4 ? [4 as const] : []), ...(ctx.config.ipv6 ? [6 as const] : [])]);
    const planCtx = { underlayIndex: ctx.underlay.index, underlayPrefixes: ctx.underlayPrefixes, families };
    return {
      type: 'host-gw',
      mtu: ctx.underlay.mtu,
      backendData: undefined,
      backendV6Data: undefined,
      ownedIfindexes: [],
      configure: async () => undefined,
      plan: (leases, own) => planHostGw(leases, own, planCtx),
      leasesChanged: () => undefined,
      close: async () => undefined,
    };
  },
};
