import { Counter, Gauge } from 'prom-client';
import { registry } from '../observe/metrics.js';

export const leaseRenewals = new Counter({
  name: 'keel_overlay_lease_renewals_total',
  help: "Renewals of this node's subnet lease, by result.",
  labelNames: ['result'] as const,
  registers: [registry],
});

export const leaseAcquisitions = new Counter({
  name: 'keel_overlay_lease_acquisitions_total',
  help: 'Subnet lease acquisitions, by how the subnet was found (reused, previous, new).',
  labelNames: ['how'] as const,
  registers: [registry],
});

export const leasesRemoved = new Counter({
  name: 'keel_overlay_leases_removed_total',
  help: "Other nodes' leases that expired or were deleted, as seen by this node.",
  registers: [registry],
});

export const leasesLost = new Counter({
  name: 'keel_overlay_own_lease_lost_total',
  help: 'Times this node found its own lease expired or taken and had to acquire again.',
  registers: [registry],
});

export const routesProgrammed = new Gauge({
  name: 'keel_overlay_routes_programmed',
  help: 'Routes (plus vxlan neighbour and FDB entries) this node currently owns for remote subnets.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const kernelChanges = new Counter({
  name: 'keel_overlay_kernel_changes_total',
  help: 'Kernel entries added or removed by the reconcile loop, by kind and operation.',
  labelNames: ['kind', 'op'] as const,
  registers: [registry],
});

export const udpPackets = new Counter({
  name: 'keel_overlay_udp_packets_total',
  help: 'Packets carried by the udp backend, by direction (encap = TUN to UDP, decap = UDP to TUN, drop).',
  labelNames: ['direction'] as const,
  registers: [registry],
});

export const udpBatches = new Counter({
  name: 'keel_overlay_udp_batches_total',
  help: "System calls that moved the udp backend's packets: encap = UDP sends (one per UDP GSO batch), decap = TUN writes (one per coalesced TCP super-packet or lone packet). Packets over batches is the batching the offloads buy.",
  labelNames: ['direction'] as const,
  registers: [registry],
});

export const udpBytes = new Counter({
  name: 'keel_overlay_udp_bytes_total',
  help: 'Bytes of inner IP packets carried by the udp backend, by direction.',
  labelNames: ['direction'] as const,
  registers: [registry],
});
