import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCidr, type Cidr } from '../../src/api/ip.js';
import { writeSubnetEnv } from '../../src/overlay/subnet-env.js';
import { etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { keel } from '../support/keel-cli.js';

/* `keel network init` and `keel network cni-config` as a user runs them, against the shared real etcd. */
const prefix = uniquePrefix('overlay-cli');
const etcd = ['--etcd-endpoints', etcdEndpoint(), '--subnet-prefix', prefix];
const dir = mkdtempSync(join(tmpdir(), 'keel-ko-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('keel network', () => {
  it('init stores flannel JSON once, refuses a second init without --force', async () => {
    const first = await keel(['network', 'init', '--network', '10.244.0.0/16', '--backend', 'vxlan', ...etcd]);
    expect(first.stderr).toBe('');
    expect(first.stdout.trim()).toBe(`${prefix}/config {"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}`);
    const again = await keel(['network', 'init', '--network', '10.245.0.0/16', ...etcd]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr.trim()).toBe(`keel: network config ${prefix}/config already exists (use --force to replace it)`);
    const forced = await keel(['network', 'init', '--network', '10.245.0.0/16', '--backend', 'host-gw', '--force', ...etcd]);
    expect(forced.stdout).toContain('{"Network":"10.245.0.0/16","Backend":{"Type":"host-gw"}}');
  });

  it.each([
    [
      ['--network', '10.244.0.0/16', '--backend', 'wireguard'],
      'keel: network config: Backend.Type: unknown backend "wireguard" (keel supports vxlan, udp, host-gw)',
    ],
    [['--network', '10.244.0.0/16', '--subnet-len', '12'], 'keel: network config: SubnetLen: /12 is too large for Network 10.244.0.0/16'],
    [['--network', '10.96.0.0/16'], 'keel: network config: Network 10.96.0.0/16 overlaps the service range 10.96.0.0/12'],
    [[], 'keel: network init: --network is required'],
  ])('init %j fails with one clear line', async (args, message) => {
    const res = await keel(['network', 'init', ...args, ...etcd]);
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr.startsWith(message)).toBe(true);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('cni-config prints the conflist for this node from subnet.env', async () => {
    const file = join(dir, 'subnet.env');
    const missing = await keel(['network', 'cni-config', '--subnet-file', file]);
    expect(missing.stderr).toContain(`cannot read ${file}`);
    await writeSubnetEnv(file, {
      network: parseCidr('10.244.0.0/16') as Cidr,
      subnet: parseCidr('10.244.9.0/24') as Cidr,
      mtu: 1450,
      ipMasq: true,
    });
    const res = await keel(['network', 'cni-config', '--subnet-file', file]);
    const conf = JSON.parse(res.stdout) as { plugins: Array<{ type: string; ipam?: { ranges: unknown } }> };
    expect(conf.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    expect(conf.plugins[0]?.ipam?.ranges).toEqual([[{ subnet: '10.244.9.0/24', gateway: '10.244.9.1' }]]);
  });
});
