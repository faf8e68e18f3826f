import { KeelError } from '../../api/errors.js';
import { ipFromValue, type IpAddress } from '../../api/ip.js';
import type { LinkInfo } from '../../kernel/netlink/netlink-port.js';
import { vxlanBackendData } from '../lease.js';
import type { BackendDeps, BackendFactory, NodeContext } from './backend.js';
import { planVxlan } from './plan-vxlan.js';

/** VXLAN header (8) + UDP (8) + outer IPv4 (20) + inner Ethernet (14); an IPv6 outer header is 20 bytes longer. */
const VXLAN_OVERHEAD = { 4: 50, 6: 70 } as const;

export const vxlan: BackendFactory = {
  type: 'vxlan',
  async setup(ctx, deps) {
    const { vni, directRouting } = ctx.config.backend;
    // flannel's names: flannel.<VNI> over the IPv4 underlay, flannel-v6.<VNI> over the IPv6 one.
    const v4 = ctx.config.enableIPv4 ? await ensureDevice(`flannel.${vni}`, ctx.publicIp, ctx, deps) : undefined;
    // The agent refuses EnableIPv6 on an underlay without an IPv6 address.
    const v6 = ctx.config.ipv6 && ctx.publicIpv6 ? await ensureDevice(`flannel-v6.${vni}`, ctx.publicIpv6, ctx, deps) : undefined;
    const planCtx = {
      ifindex: { ...(v4 ? { 4: v4.index } : {}), ...(v6 ? { 6: v6.index } : {}) },
      vni,
      underlayIndex: ctx.underlay.index,
      underlayPrefixes: ctx.underlayPrefixes,
      directRouting,
    };
    return {
      type: 'vxlan',
      // One MTU for the pods of both families: the smaller device's.
      mtu: Math.min(...[v4, v6].flatMap((d) => (d ? [d.mtu] : []))),
      backendData: v4 ? vxlanBackendData({ vni, vtepMac: v4.mac }) : undefined,
      backendV6Data: v6 ? vxlanBackendData({ vni, vtepMac: v6.mac }) : undefined,
      ownedIfindexes: [v4, v6].flatMap((d) => (d ? [d.index] : [])),
      async configure(subnets) {
        // The subnet's own address as a host address (/32, /128), as flannel: a source for host-to-pod traffic, no broadcast routes.
        if (v4) await deps.port.addAddress(v4.index, ipFromValue(4, subnets.subnet.first), 32);
        if (v6 && subnets.ipv6Subnet) await deps.port.addAddress(v6.index, ipFromValue(6, subnets.ipv6Subnet.first), 128);
      },
      plan: (leases, own) => planVxlan(leases, own, planCtx),
      leasesChanged: () => undefined,
      close: async () => undefined,
    };
  },
};

/** The vxlan device, made or kept: a matching existing device keeps its MAC, so the lease other nodes hold stays valid across restarts. */
async function ensureDevice(name: string, local: IpAddress, ctx: NodeContext, { port, logger }: BackendDeps): Promise<LinkInfo> {
  const { vni, port: dstPort } = ctx.config.backend;
  const mtu = ctx.underlay.mtu - VXLAN_OVERHEAD[local.family];
  let dev = (await port.links()).find((l) => l.name === name);
  if (dev && (dev.vxlan?.vni !== vni || dev.vxlan.local?.text !== local.text || dev.vxlan.port !== dstPort)) {
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
    await port.createVxlan({ name, vni, local, underlayIndex: ctx.underlay.index, port: dstPort, mtu });
    dev = (await port.links()).find((l) => l.name === name);
    logger.info('created vxlan device', { device: name, vni, local: local.text, port: dstPort, mtu });
  }
  if (!dev) throw new KeelError('KEEL_NETLINK_FAILED', 'device vanished right after creation', { subject: name });
  await port.setLink(dev.index, true, mtu);
  return { ...dev, mtu };
}
