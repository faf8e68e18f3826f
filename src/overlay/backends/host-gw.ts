import type { BackendFactory } from './backend.js';
import { planHostGw } from './plan-host-gw.js';

export const hostGw: BackendFactory = {
  type: 'host-gw',
  async setup(ctx) {
    const planCtx = { underlayIndex: ctx.underlay.index, underlayPrefix: ctx.underlayPrefix };
    return {
      type: 'host-gw',
      mtu: ctx.underlay.mtu,
      backendData: undefined,
      ownedIfindex: undefined,
      configure: async () => undefined,
      plan: (leases, own) => planHostGw(leases, own, planCtx),
      leasesChanged: () => undefined,
      close: async () => undefined,
    };
  },
};
