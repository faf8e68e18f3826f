import { describe, expect, it } from 'vitest';
import type { Service } from '../api/service.js';
import { makeService, snapshotOf } from '../api/testing/object-builders.js';
import { FakeRunner } from '../kernel/iptables/testing/fake-runner.js';
import {
  compilePortalRules,
  compileUserspaceRules,
  existingPortalJumps,
  PORTAL_JUMPS,
  portalRulesMatch,
  renderPortalCleanup,
  renderPortalRestore,
} from './portal-rules.js';
import { planProxyPorts } from './proxy-ports.js';
import { serviceViewsOf } from '../service-view/service-views.js';
import { servicePortals } from './service-portals.js';

/*
 * Address plan: node 192.168.0.201 (the seed's node), services in
 * 192.168.3.0/24 as the seed's cluster had them, proxy ports 43981+.
 */
const NODE = { nodeIP: '192.168.0.201' };

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- free-form manifest under test

/** A service of the seed's cluster: 192.168.3.84:8000 → 80 unless the mutator says otherwise. */
function seedService(ns: string, name: string, mutate: (raw: Raw) => void = () => {}): Service {
  return makeService(ns, name, (s, raw) => {
    s.clusterIP = '192.168.3.84';
    s.ports = [{ port: 8000, targetPort: 80 }];
    mutate(raw);
  });
}

const viewsOf = (...services: Service[]) => serviceViewsOf(snapshotOf(services));

describe('compileUserspaceRules', () => {
  it("prints the seed node's rules for a single-port NodePort service", () => {
    const svc = seedService('default', 'nginx-service-nodeport', (s) => {
      s.spec.type = 'NodePort';
      s.spec.ports[0].nodePort = 32606;
    });
    const ports = new Map([['default/nginx-service-nodeport:', 43981]]);
    expect(compileUserspaceRules(snapshotOf([svc]), NODE, ports).text).toBe(`*nat
:KUBE-PORTALS-CONTAINER - [0:0]
:KUBE-PORTALS-HOST - [0:0]
:KUBE-NODEPORT-CONTAINER - [0:0]
:KUBE-NODEPORT-HOST - [0:0]
-A PREROUTING -m comment --comment "handle ClusterIP services" -j KUBE-PORTALS-CONTAINER
-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-CONTAINER
-A OUTPUT -m comment --comment "handle ClusterIP services" -j KUBE-PORTALS-HOST
-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-HOST
-A KUBE-PORTALS-CONTAINER -d 192.168.3.84/32 -p tcp -m comment --comment "default/nginx-service-nodeport:" -m tcp --dport 8000 -j REDIRECT --to-ports 43981
-A KUBE-PORTALS-HOST -d 192.168.3.84/32 -p tcp -m comment --comment "default/nginx-service-nodeport:" -m tcp --dport 8000 -j DNAT --to-destination 192.168.0.201:43981
-A KUBE-NODEPORT-CONTAINER -p tcp -m comment --comment "default/nginx-service-nodeport:" -m tcp --dport 32606 -j REDIRECT --to-ports 43981
-A KUBE-NODEPORT-HOST -p tcp -m comment --comment "default/nginx-service-nodeport:" -m tcp --dport 32606 -j DNAT --to-destination 192.168.0.201:43981
COMMIT
`);
  });

  it('serves named UDP ports, externalIPs and load-balancer IPs; skips headless, ExternalName and SCTP', () => {
    const dns = seedService('kube-system', 'dns', (s) => {
      s.spec.clusterIP = '192.168.3.10';
      s.spec.externalIPs = ['172.30.9.9'];
      s.spec.ports = [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53 },
        { name: 'x', port: 9, protocol: 'SCTP' },
      ];
    });
    const lb = seedService('default', 'lb', (s) => {
      s.spec.type = 'LoadBalancer';
      s.spec.clusterIP = '192.168.3.20';
      s.spec.ports[0].nodePort = 30080;
      s.status = { loadBalancer: { ingress: [{ ip: '172.30.9.20' }] } };
    });
    const headless = seedService('default', 'db', (s) => {
      s.spec.clusterIP = 'None';
    });
    const ext = seedService('default', 'ext', (s) => {
      s.spec = { type: 'ExternalName', externalName: 'example.org' };
    });
    const { portals, skipped } = servicePortals(viewsOf(dns, lb, headless, ext));
    expect(portals.map((p) => p.name)).toEqual(['default/lb:', 'kube-system/dns:dns', 'kube-system/dns:dns-tcp']);
    expect(skipped.map((e) => e.message)).toEqual(['service kube-system/dns: port 9/SCTP: the userspace proxy serves TCP and UDP only']);

    const ports = new Map([
      ['default/lb:', 40000],
      ['kube-system/dns:dns', 40001],
      ['kube-system/dns:dns-tcp', 40002],
    ]);
    const rules = compilePortalRules(portals, NODE, ports);
    expect(rules.chains['KUBE-PORTALS-CONTAINER']).toEqual([
      '-A KUBE-PORTALS-CONTAINER -d 192.168.3.20/32 -p tcp -m comment --comment "default/lb:" -m tcp --dport 8000 -j REDIRECT --to-ports 40000',
      '-A KUBE-PORTALS-CONTAINER -d 172.30.9.20/32 -p tcp -m comment --comment "default/lb:" -m tcp --dport 8000 -j REDIRECT --to-ports 40000',
      '-A KUBE-PORTALS-CONTAINER -d 192.168.3.10/32 -p udp -m comment --comment "kube-system/dns:dns" -m udp --dport 53 -j REDIRECT --to-ports 40001',
      '-A KUBE-PORTALS-CONTAINER -d 172.30.9.9/32 -p udp -m comment --comment "kube-system/dns:dns" -m udp --dport 53 -j REDIRECT --to-ports 40001',
      '-A KUBE-PORTALS-CONTAINER -d 192.168.3.10/32 -p tcp -m comment --comment "kube-system/dns:dns-tcp" -m tcp --dport 53 -j REDIRECT --to-ports 40002',
      '-A KUBE-PORTALS-CONTAINER -d 172.30.9.9/32 -p tcp -m comment --comment "kube-system/dns:dns-tcp" -m tcp --dport 53 -j REDIRECT --to-ports 40002',
    ]);
    expect(rules.chains['KUBE-PORTALS-HOST'][2]).toBe(
      '-A KUBE-PORTALS-HOST -d 192.168.3.10/32 -p udp -m comment --comment "kube-system/dns:dns" -m udp --dport 53 -j DNAT --to-destination 192.168.0.201:40001',
    );
    expect(rules.chains['KUBE-NODEPORT-HOST']).toEqual([
      '-A KUBE-NODEPORT-HOST -p tcp -m comment --comment "default/lb:" -m tcp --dport 30080 -j DNAT --to-destination 192.168.0.201:40000',
    ]);
  });

  it('writes no rules for a port without a proxy port yet', () => {
    const { portals } = servicePortals(viewsOf(seedService('default', 'a')));
    const rules = compilePortalRules(portals, NODE, new Map());
    expect(Object.values(rules.chains).flat()).toEqual([]);
  });
});

describe('applying portal rules', () => {
  it('adds jumps once, replaces rules atomically, and cleans up', async () => {
    const fake = new FakeRunner();
    await fake.restore('*nat\n:OTHER - [0:0]\n-A PREROUTING -j OTHER\nCOMMIT\n');
    const { portals } = servicePortals(viewsOf(seedService('default', 'a')));
    const first = compilePortalRules(portals, NODE, new Map([['default/a:', 40000]]));
    await fake.restore(renderPortalRestore(first, { presentJumps: existingPortalJumps(await fake.save('nat')) }));
    expect(portalRulesMatch(await fake.save('nat'), first)).toBe(true);

    const second = compilePortalRules(portals, NODE, new Map([['default/a:', 40001]]));
    expect(portalRulesMatch(await fake.save('nat'), second)).toBe(false);
    const saved = await fake.save('nat');
    expect(existingPortalJumps(saved).size).toBe(PORTAL_JUMPS.length);
    await fake.restore(renderPortalRestore(second, { presentJumps: existingPortalJumps(saved) }));
    const after = await fake.save('nat');
    expect(after.split('\n').filter((l) => l.startsWith('-A PREROUTING'))).toEqual([
      '-A PREROUTING -j OTHER',
      PORTAL_JUMPS[0],
      PORTAL_JUMPS[1],
    ]);
    expect(portalRulesMatch(after, second)).toBe(true);

    await fake.restore(renderPortalCleanup(after) ?? '');
    expect(await fake.save('nat')).toBe(
      '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:OTHER - [0:0]\n-A PREROUTING -j OTHER\nCOMMIT\n',
    );
    expect(renderPortalCleanup(await fake.save('nat'))).toBeUndefined();
  });
});

describe('planProxyPorts', () => {
  it('keeps held ports, fills the lowest free ones in name order, and stops when the range is full', () => {
    const range = { min: 40000, max: 40002 };
    const plan = planProxyPorts(
      ['b:', 'a:', 'c:', 'd:'],
      range,
      new Map([
        ['c:', 40001],
        ['gone:', 40000],
      ]),
      new Set([40002]),
    );
    expect([...plan]).toEqual([
      ['c:', 40001],
      ['a:', 40000],
    ]);
  });
});
