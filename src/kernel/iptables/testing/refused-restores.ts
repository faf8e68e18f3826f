/**
 * Restore inputs the kernel refuses, each with the line it fails on. The fake
 * runner's unit test expects it to refuse every one at that line, and the
 * e2e runner suite feeds the same inputs to real iptables-restore (nft and
 * legacy) in a netns, so the fake cannot drift into accepting what the
 * kernel would not. `line` is where the fake reports it; the kernel reports
 * graph problems (missing chains, loops, misplaced targets) at COMMIT.
 */
export interface RefusedRestore {
  readonly name: string;
  readonly text: string;
  readonly line: number;
  /** Only this backend refuses it (the fake refuses it regardless). */
  readonly only?: 'legacy' | 'nft';
}

const nat = (...lines: string[]): string => ['*nat', ...lines, 'COMMIT', ''].join('\n');
const filter = (...lines: string[]): string => ['*filter', ...lines, 'COMMIT', ''].join('\n');

export const REFUSED_RESTORES: readonly RefusedRestore[] = [
  {
    name: 'a probability above 1',
    line: 3,
    text: nat(':KUBE-R1 - [0:0]', '-A KUBE-R1 -m statistic --mode random --probability 1.5 -j RETURN'),
  },
  {
    name: 'a negative probability',
    line: 3,
    text: nat(':KUBE-R1 - [0:0]', '-A KUBE-R1 -m statistic --mode random --probability -0.5 -j RETURN'),
  },
  { name: 'a jump to a missing chain', line: 3, text: nat(':KUBE-R2 - [0:0]', '-A KUBE-R2 -j KUBE-R2-MISSING') },
  { name: 'a rule in a chain never declared', line: 2, text: nat('-A KUBE-R3-UNDECLARED -j RETURN') },
  { name: 'a jump to a built-in chain', line: 3, text: nat(':KUBE-R4 - [0:0]', '-A KUBE-R4 -j PREROUTING') },
  {
    name: 'DNAT in the filter table',
    line: 3,
    text: filter(':KUBE-R5 - [0:0]', '-A KUBE-R5 -p tcp -j DNAT --to-destination 10.244.1.5:80'),
  },
  {
    name: 'MASQUERADE reachable from PREROUTING',
    line: 4,
    text: nat(':KUBE-R6 - [0:0]', '-A PREROUTING -j KUBE-R6', '-A KUBE-R6 -j MASQUERADE'),
  },
  {
    name: 'a loop between two chains',
    line: 6,
    text: nat(':KUBE-R7A - [0:0]', ':KUBE-R7B - [0:0]', '-A OUTPUT -j KUBE-R7A', '-A KUBE-R7A -j KUBE-R7B', '-A KUBE-R7B -j KUBE-R7A'),
  },
  { name: '--dport without a protocol', line: 3, text: nat(':KUBE-R8 - [0:0]', '-A KUBE-R8 --dport 80 -j RETURN') },
  { name: 'a tcp match on a udp rule', line: 3, text: nat(':KUBE-R9 - [0:0]', '-A KUBE-R9 -p udp -m tcp --dport 53 -j RETURN') },
  { name: 'a port above 65535', line: 3, text: nat(':KUBE-R10 - [0:0]', '-A KUBE-R10 -p tcp -m tcp --dport 70000 -j RETURN') },
  {
    name: 'a DNAT port above 65535',
    line: 3,
    text: nat(':KUBE-R11 - [0:0]', '-A KUBE-R11 -p tcp -j DNAT --to-destination 10.244.1.5:99999'),
  },
  { name: 'an address that is not one', line: 3, text: nat(':KUBE-R12 - [0:0]', '-A KUBE-R12 -d 10.96.0.300/32 -j RETURN') },
  { name: 'a chain name of 29 characters', line: 2, text: nat(`:KUBE-${'X'.repeat(24)} - [0:0]`) },
  { name: 'an unknown conntrack state', line: 3, text: filter(':KUBE-R15 - [0:0]', '-A KUBE-R15 -m conntrack --ctstate BOGUS -j RETURN') },
  { name: 'a policy on a user chain', line: 2, text: nat(':KUBE-R16 ACCEPT [0:0]'), only: 'legacy' },
  { name: 'an insert past the end of a chain', line: 3, text: nat(':KUBE-R17 - [0:0]', '-I KUBE-R17 3 -j RETURN') },
  { name: 'a table that does not exist', line: 1, text: ['*bogus', ':KUBE-R18 - [0:0]', 'COMMIT', ''].join('\n') },
];
