/** Address plan: see testing/nft-fixture.ts (node-a 172.30.0.1, pods 10.244.0.0/16, services 10.96.0.0/12). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { projectService } from '../service-view/project-service.js';
import { makeEndpoints, makeService, snapshotOf } from '../api/testing/object-builders.js';
import { changeScript } from './change-script.js';
import { compileNftables } from './compile.js';
import { compileNftService } from './compile-service.js';
import { renderTable, nftDuration } from './render-table.js';
import { diffTables } from './table-diff.js';
import { fixtureNode } from '../proxy-iptables/testing/fixture-node.js';
import { nftFixture } from './testing/nft-fixture.js';

const golden = readFileSync(new URL('./testdata/fixture.golden', import.meta.url), 'utf8');
const table = compileNftables(nftFixture(), fixtureNode);
const chain = (prefix: string): readonly string[] => table.chains.find((c) => c.name.startsWith(prefix))?.rules ?? [];
const elements = (set: string): readonly string[] => table.sets.find((s) => s.name === set)?.elements ?? [];

describe('compileNftables', () => {
  it('renders the fixture as the golden table, byte for byte', () => {
    expect(renderTable(table)).toBe(golden);
    expect(renderTable(compileNftables(nftFixture(), fixtureNode))).toBe(golden);
  });

  it('dispatches ClusterIPs, external IPs and NodePorts through the verdict maps', () => {
    expect(elements('service-ips')).toContain('10.96.0.10 . tcp . 80 : goto service-SUSTUHLJ-default/web/tcp/http');
    expect(elements('service-ips')).toContain('203.0.113.10 . udp . 53 : goto external-S5KDWTE3-default/web/udp/dns');
    expect(elements('service-nodeports')).toContain('tcp . 30080 : goto external-SUSTUHLJ-default/web/tcp/http');
    expect(elements('cluster-ips')).toEqual(['10.96.0.10', '10.96.0.20', '10.96.0.30', '10.96.0.40', '10.96.0.50']);
  });

  it('picks an endpoint as data: a random slot of the service map, drawn again while it lands on an empty slot', () => {
    const pick = (mod: number): string =>
      `meta l4proto tcp dnat ip to numgen random mod ${mod} map @service-endpoints-SUSTUHLJ-default/web/tcp/http`;
    expect(chain('service-SUSTUHLJ')).toEqual([
      'ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
      ...Array.from({ length: 8 }, () => pick(2)),
      pick(1),
    ]);
    expect(elements('service-endpoints-SUSTUHLJ-default/web/tcp/http')).toEqual(['0 : 10.244.1.5 . 8080', '1 : 10.244.2.7 . 8080']);
    expect(table.chains.some((c) => c.name.startsWith('endpoint-HGNPOIJ5'))).toBe(false);
  });

  it('masquerades hairpins (an endpoint reaching itself through a service) in postrouting, from one set of endpoint pairs', () => {
    expect(elements('endpoint-hairpins')).toContain('10.244.1.5 . 10.244.1.5');
    expect(chain('masquerading')[0]).toBe('ct status dnat ip saddr . ip daddr @endpoint-hairpins jump mark-for-masquerade');
  });

  it('rejects services without endpoints and drops Local-policy traffic with no local endpoint', () => {
    expect(elements('no-endpoint-services')).toEqual([
      '10.96.0.20 . tcp . 80 comment "default/empty" : goto reject-chain',
      '10.96.0.50 . tcp . 80 comment "default/internal" : drop',
    ]);
    expect(elements('no-endpoint-nodeports')).toEqual(['tcp . 30090 comment "default/empty" : goto reject-chain']);
    expect(elements('service-ips').some((e) => e.startsWith('10.96.0.20 ') || e.startsWith('10.96.0.50 '))).toBe(false);
  });

  it('keeps ClientIP affinity in a timed set per endpoint, checked before the random pick', () => {
    const sticky = chain('service-EDE2N7RF');
    expect(sticky[1]).toMatch(/^ip saddr @affinity-AQ6YHF6C-\S+ goto endpoint-AQ6YHF6C-/);
    expect(sticky.at(-1)).toMatch(/^numgen random mod 2 vmap/);
    expect(chain('endpoint-AQ6YHF6C')).toContain('update @affinity-AQ6YHF6C-default/sticky/tcp/__10.244.1.6/80 { ip saddr }');
    expect(table.sets.find((s) => s.name.startsWith('affinity-AQ6YHF6C'))).toMatchObject({
      flags: ['dynamic', 'timeout'],
      timeoutSeconds: 600,
    });
  });

  it('external Local: pods and the node short-circuit to every endpoint, others reach local ones with their address kept', () => {
    expect(chain('external-Z62NTLDZ')).toEqual([
      'ip saddr 10.244.0.0/16 goto service-Z62NTLDZ-default/lb/tcp/ comment "short-circuit pod traffic"',
      'fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"',
      'fib saddr type local goto service-Z62NTLDZ-default/lb/tcp/ comment "short-circuit local traffic"',
      'goto local-Z62NTLDZ-default/lb/tcp/',
    ]);
    const pick = (mod: number): string =>
      `meta l4proto tcp dnat ip to numgen random mod ${mod} map @local-endpoints-Z62NTLDZ-default/lb/tcp/`;
    expect(chain('local-Z62NTLDZ')).toEqual([...Array.from({ length: 8 }, () => pick(2)), pick(1)]);
    expect(elements('local-endpoints-Z62NTLDZ-default/lb/tcp/')).toEqual(['0 : 10.244.1.40 . 8443']);
  });

  it('firewalls LB IPs to the source ranges, the LB IP itself allowed when a range holds the node', () => {
    expect(elements('firewall-ips')).toEqual(['203.0.113.40 . tcp . 443 comment "default/lb" : goto firewall-Z62NTLDZ-default/lb/tcp/']);
    expect(chain('firewall-Z62NTLDZ')).toEqual(['ip saddr != { 172.30.0.0/24, 198.51.100.0/24, 203.0.113.40 } drop']);
  });

  it('answers NodePorts only on --nodeport-addresses when given, never on loopback', () => {
    const t = compileNftables(nftFixture(), { ...fixtureNode, nodePortAddresses: ['172.30.0.1', '127.0.0.1'] });
    expect(t.sets.find((s) => s.name === 'nodeport-ips')?.elements).toEqual(['172.30.0.1']);
    expect(t.chains.find((c) => c.name === 'services')?.rules[1]).toBe(
      'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports',
    );
  });

  it('prints durations as nft does', () => {
    expect([nftDuration(10800), nftDuration(100), nftDuration(90061)]).toEqual(['3h', '1m40s', '1d1h1m1s']);
  });
});

describe('changeScript', () => {
  const svc = makeService('default', 'web', (s) => {
    s.clusterIP = '10.96.0.10';
    s.ports = [{ port: 80, targetPort: 8080 }];
  });
  const frag = (ips: string[]) => {
    const snap = snapshotOf(
      [svc],
      [
        makeEndpoints(
          'default',
          'web',
          ips.map((ip) => ({ ip, node: 'node-a' })),
          [{ port: 8080 }],
        ),
      ],
    );
    const view = projectService(svc, snap.endpoints.get('default/web'), 'node-a');
    return compileNftService(view, fixtureNode);
  };

  it('an endpoint replaced is elements only: its slot and its hairpin pair, no chain', () => {
    const s = changeScript([{ before: frag(['10.244.1.5', '10.244.1.6']), after: frag(['10.244.1.5', '10.244.1.7']) }], 'ip', 'keel');
    expect(s).toMatchObject({ chainsWritten: 0, chainsDeleted: 0, elements: 4, structural: false });
    expect(s?.elementChanges).toEqual([
      { op: 'delete', set: 'endpoint-hairpins', elements: ['10.244.1.6 . 10.244.1.6'] },
      { op: 'delete', set: 'service-endpoints-PFISGYVC-default/web/tcp/', elements: ['1 : 10.244.1.6 . 8080'] },
      { op: 'add', set: 'endpoint-hairpins', elements: ['10.244.1.7 . 10.244.1.7'] },
      { op: 'add', set: 'service-endpoints-PFISGYVC-default/web/tcp/', elements: ['1 : 10.244.1.7 . 8080'] },
    ]);
    expect(s?.text).toContain('delete element ip keel service-endpoints-PFISGYVC-default/web/tcp/ { 1 }\n');
  });

  it('an endpoint added or removed is elements only unless the count crosses a power of two, which replaces the picks in place', () => {
    const three = ['10.244.1.5', '10.244.1.6', '10.244.1.7'];
    expect(changeScript([{ before: frag(three), after: frag([...three, '10.244.1.8']) }], 'ip', 'keel')).toMatchObject({
      structural: false,
      elements: 2,
      ruleReplacements: [],
    });
    const grown = changeScript([{ before: frag(three.slice(0, 2)), after: frag(three) }], 'ip', 'keel');
    expect(grown).toMatchObject({ structural: false, chainsWritten: 1, elements: 2 });
    // Rule 0 (the masquerade jump) stays; the eight tries and the fallback get the new modulus.
    const chain = 'service-PFISGYVC-default/web/tcp/';
    const pick = (mod: number): string =>
      `meta l4proto tcp dnat ip to numgen random mod ${mod} map @service-endpoints-PFISGYVC-default/web/tcp/`;
    expect(grown?.ruleReplacements).toEqual([
      ...Array.from({ length: 8 }, (_, i) => ({ chain, position: i + 1, length: 10, rule: pick(4) })),
      { chain, position: 9, length: 10, rule: pick(2) },
    ]);
    // The same transaction as nft -f text, for a loop without a netlink socket.
    expect(grown?.text).toContain(`flush chain ip keel ${chain}\n`);
    expect(grown?.text).toContain(`add rule ip keel ${chain} ${pick(4)}\n`);
  });

  it('a chain whose length changes is structural (nft -f)', () => {
    const one = frag(['10.244.1.5']);
    const withoutMasq = { ...one, chains: one.chains.map((c) => ({ ...c, rules: c.rules.slice(1) })) };
    expect(changeScript([{ before: withoutMasq, after: one }], 'ip', 'keel')).toMatchObject({ structural: true, ruleReplacements: [] });
  });

  it('keeps a shared element another service still holds', () => {
    const s = changeScript(
      [{ before: frag(['10.244.1.5', '10.244.1.6']), after: frag(['10.244.1.5']) }],
      'ip',
      'keel',
      (set, e) => set === 'endpoint-hairpins' && e.startsWith('10.244.1.6 '),
    );
    expect(s?.text).not.toContain('endpoint-hairpins');
  });

  it('nothing changed: no transaction; endpoints gone: the ClusterIP moves to the reject map', () => {
    expect(changeScript([{ before: frag(['10.244.1.5']), after: frag(['10.244.1.5']) }], 'ip', 'keel')?.text).toBe('');
    const text = changeScript([{ before: frag(['10.244.1.5']), after: frag([]) }], 'ip', 'keel')?.text ?? '';
    expect(text).toContain('delete element ip keel service-ips { 10.96.0.10 . tcp . 80 }');
    expect(text).toContain('add element ip keel no-endpoint-services { 10.96.0.10 . tcp . 80 comment "default/web" : goto reject-chain }');
  });
});

describe('diffTables', () => {
  it('ignores element order and line wrapping, and shows what differs per object', () => {
    const listed = golden
      .replace('elements = { 10.96.0.10,\n\t\t\t     10.96.0.20,', 'elements = { 10.96.0.20, 10.96.0.10,')
      .replace('\t\tjump masquerading\n', '');
    expect(
      diffTables(golden, golden.replace('elements = { 10.96.0.10,\n\t\t\t     10.96.0.20,', 'elements = { 10.96.0.20, 10.96.0.10,')),
    ).toBe('');
    expect(diffTables(golden, listed)).toBe('  chain nat-postrouting\n+\tjump masquerading\n');
    expect(diffTables(golden, '')).toContain('+ chain services\n');
  });
});
