import { KeelError } from '../../api/errors.js';
import { ipFromValue } from '../../api/ip.js';
import { vxlanBackendData } from '../lease.js';
import type { BackendFactory } from './backend.js';
import { planVxlan } from './plan-vxlan.js';

/** VXLAN header (8) + UDP (8) + outer IPv4 (20) + inner Ethernet (14). */
const VXLAN_OVERHEAD = 50;

export const vxlan: BackendFactory = {
  type: 'vxlan',
  async setup(ctx, { port, logger }) {
    const { vni, port: dstPort, directRouting } = ctx.config.backend;
    const name = `flannel.${vni}`;
    const mtu = ctx.underlay.mtu - VXLAN_OVERHEAD;
    // A matching existing device keeps its MAC, so the lease other nodes hold stays valid across restarts.
    let dev = (await port.links()).find((l) => l.name === name);
    if (dev && (dev.vxlan?.vni !== vni || dev.vxlan.local?.text !== ctx.publicIp.text || dev.vxlan.port !== dstPort)) {
      logger.warn('vxlan device has other parameters; recreating it', {
        device: name,
        vni: dev.vxlan?.vni,
        local: dev.vxlan?.local?.text,
        port: dev.vxlan?.port,
      });
      await port.deleteLink(dev.index);
      dev = undefined;
    }
    if (!dev) {
      await port.createVxlan({ name, vni, local: ctx.publicIp, underlayIndex: ctx.underlay.index, port: dstPort, mtu });
      dev = (await port.links()).find((l) => l.name === name);
      logger.info('created vxlan device', { device: name, vni, local: ctx.publicIp.text, port: dstPort, mtu });
    }
    if (!dev) throw new KeelError('KEEL_NETLINK_FAILED', 'device vanished right after creation', { subject: name });
    await port.setLink(dev.index, true, mtu);
    const ifindex = dev.index;
    const planCtx = { ifindex, vni, underlayIndex: ctx.underlay.index, underlayPrefix: ctx.underlayPrefix, directRouting };
    return {
      type: 'vxlan',
      mtu,
      backendData: vxlanBackendData({ vni, vtepMac: dev.mac }),
      ownedIfindex: ifindex,
      async configure(subnet) {
        await port.addAddress(ifindex, ipFromValue(4, subnet.first), 32);
      },
      plan: (leases, own) => planVxlan(leases, own, planCtx),
      leasesChanged: () => undefined,
      close: async () => undefined,
    };
  },
};
