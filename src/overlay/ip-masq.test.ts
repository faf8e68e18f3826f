import { describe, expect, it } from 'vitest';
import { parseCidr, type Cidr } from '../api/ip.js';
import { FakeRunner } from '../kernel/iptables/testing/fake-runner.js';
import { compileIpMasq, hasMasqJump } from './ip-masq.js';

const net = parseCidr('10.244.0.0/16') as Cidr;
const sub = parseCidr('10.244.7.0/24') as Cidr;

describe('compileIpMasq', () => {
  it('renders flannel-style rules, jumping from POSTROUTING once', () => {
    expect(compileIpMasq(net, sub, false)).toBe(
      [
        '*nat',
        ':KEEL-POSTRTG - [0:0]',
        '-A POSTROUTING -m comment --comment "keel overlay: masquerade" -j KEEL-POSTRTG',
        '-A KEEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "keel overlay: pod to pod" -j RETURN',
        '-A KEEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "keel overlay: pod leaving the network" -j MASQUERADE --random-fully',
        '-A KEEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.7.0/24 -m comment --comment "keel overlay: to local pods" -j RETURN',
        '-A KEEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "keel overlay: outside to remote pods" -j MASQUERADE --random-fully',
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(compileIpMasq(net, sub, true)).not.toContain('-A POSTROUTING');
  });

  it('applies idempotently through the shared runner contract', async () => {
    const runner = new FakeRunner();
    for (let i = 0; i < 2; i++) await runner.restore(compileIpMasq(net, sub, hasMasqJump(await runner.save('nat'))), { noflush: true });
    const dump = await runner.save('nat');
    expect(dump.match(/-j KEEL-POSTRTG/g)).toHaveLength(1);
    expect(dump.match(/^-A KEEL-POSTRTG/gm)).toHaveLength(4);
  });
});
