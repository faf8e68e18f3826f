import type { Cidr } from '../api/ip.js';

const MASQ_CHAIN = 'KEEL-POSTRTG';

/**
 * flannel's FLANNEL-POSTRTG rules as restore text for `--noflush`: pod to
 * pod stays unmasqueraded, pods leaving the Network are masqueraded, and
 * so is traffic from outside the Network to remote pods (IPv6: the same
 * rules for ip6tables, multicast ff00::/8, as flannel). `jumpPresent` is
 * what the kernel already holds (read before compiling), so re-applying
 * never adds a second jump.
 */
export function compileIpMasq(network: Cidr, subnet: Cidr, jumpPresent: boolean): string {
  const n = network.text;
  const c = (why: string): string => `-m comment --comment "keel overlay: ${why}"`;
  const lines = [
    '*nat',
    `:${MASQ_CHAIN} - [0:0]`,
    ...(jumpPresent ? [] : [`-A POSTROUTING ${c('masquerade')} -j ${MASQ_CHAIN}`]),
    `-A ${MASQ_CHAIN} -s ${n} -d ${n} ${c('pod to pod')} -j RETURN`,
    `-A ${MASQ_CHAIN} -s ${n} ! -d ${network.family === 4 ? '224.0.0.0/4' : 'ff00::/8'} ${c('pod leaving the network')} -j MASQUERADE --random-fully`,
    `-A ${MASQ_CHAIN} ! -s ${n} -d ${subnet.text} ${c('to local pods')} -j RETURN`,
    `-A ${MASQ_CHAIN} ! -s ${n} -d ${n} ${c('outside to remote pods')} -j MASQUERADE --random-fully`,
    'COMMIT',
    '',
  ];
  return lines.join('\n');
}

/** Whether an `iptables-save -t nat` dump already jumps from POSTROUTING to the chain. */
export function hasMasqJump(natDump: string): boolean {
  return natDump.split('\n').some((l) => l.startsWith('-A POSTROUTING ') && l.includes(`-j ${MASQ_CHAIN}`));
}
