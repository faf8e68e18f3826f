import { describe, expect, it } from 'vitest';
import { ValidationError } from '../api/errors.js';
import { parseCidr, type Cidr } from '../api/ip.js';
import { validateService, type Service } from '../api/service.js';
import { chooseNodePort } from './node-ports.js';
import { planServiceAllocation, type IpamConfig, type Taken } from './service-allocation.js';
import { chooseServiceIp, firstFree } from './service-ips.js';
import { chooseSubnet, subnetConfig } from './subnets.js';

const cidr = (t: string): Cidr => parseCidr(t) as Cidr;
const cfg: IpamConfig = { serviceRanges: [cidr('10.96.0.0/12'), cidr('fd00:10:96::/112')], nodePorts: { min: 30000, max: 30002 } };
const none: Taken = { ips: new Map(), nodePorts: new Map() };

function makeService(name: string, mutate: (s: Record<string, unknown>) => void = () => undefined): Service {
  const spec: Record<string, unknown> = { ports: [{ port: 80 }] };
  mutate(spec);
  return validateService({ metadata: { name }, spec });
}

describe('service IPs', () => {
  it('never hands out the network or broadcast address', () => {
    const r = cidr('10.0.0.0/30');
    expect(chooseServiceIp(r, new Set(), firstFree)?.text).toBe('10.0.0.1');
    expect(chooseServiceIp(r, new Set(['10.0.0.1']), firstFree)?.text).toBe('10.0.0.2');
    expect(chooseServiceIp(r, new Set(['10.0.0.1', '10.0.0.2']), firstFree)).toBeUndefined();
  });

  it('wraps around from a random start', () => {
    const r = cidr('10.0.0.0/29');
    expect(chooseServiceIp(r, new Set(['10.0.0.6']), () => 5n)?.text).toBe('10.0.0.1');
  });

  it('allocates IPv6 when the service asks for it', () => {
    const plan = planServiceAllocation(
      makeService('v6', (s) => {
        s.ipFamilies = ['IPv6'];
      }),
      undefined,
      none,
      cfg,
      firstFree,
    );
    expect(plan.service.spec.clusterIP).toBe('fd00:10:96::1');
  });
});

describe('dual-stack allocation', () => {
  it('gives a PreferDualStack service one address from each range, the primary family first', () => {
    const plan = planServiceAllocation(
      makeService('dual', (s) => {
        s.ipFamilyPolicy = 'PreferDualStack';
        s.ipFamilies = ['IPv6'];
      }),
      undefined,
      none,
      cfg,
      firstFree,
    );
    expect([plan.service.spec.clusterIP, plan.ips, plan.service.spec.ipFamilies]).toEqual([
      'fd00:10:96::1',
      ['fd00:10:96::1', '10.96.0.1'],
      ['IPv6', 'IPv4'],
    ]);
  });

  it('adds the secondary address to an existing single-stack service that turns RequireDualStack, keeping its primary', () => {
    const before = planServiceAllocation(makeService('s'), undefined, none, cfg, firstFree).service;
    const taken: Taken = { ips: new Map([['10.96.0.1', 'default/s']]), nodePorts: new Map() };
    const plan = planServiceAllocation(
      makeService('s', (s) => {
        s.ipFamilyPolicy = 'RequireDualStack';
      }),
      before,
      taken,
      cfg,
      firstFree,
    );
    expect(plan.ips).toEqual(['10.96.0.1', 'fd00:10:96::1']);
  });

  it('refuses an IPv6 service on an IPv4-only cluster with the apiserver message', () => {
    const v4only: IpamConfig = { ...cfg, serviceRanges: [cidr('10.96.0.0/12')] };
    const v6 = makeService('v6', (s) => {
      s.ipFamilies = ['IPv6'];
    });
    const run = (): unknown => planServiceAllocation(v6, undefined, none, v4only, firstFree);
    // The type too: toThrow('text') alone passes when undefined is thrown, and this refusal is what fieldErrors() returns.
    expect(run).toThrow(ValidationError);
    expect(run).toThrow('service default/v6: spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster');
  });
});

describe('planServiceAllocation', () => {
  // kube-apiserver pkg/registry/core/service/storage/alloc.go (allocNodePorts, allocHealthCheckNodePort):
  // allocateLoadBalancerNodePorts false leaves ports without a NodePort unless one is asked for;
  // an externalTrafficPolicy Local LoadBalancer gets a healthCheckNodePort from the NodePort range.
  it('allocates no NodePort for a LoadBalancer with allocateLoadBalancerNodePorts false, except an explicit one', () => {
    const lb = makeService('lb', (s) => {
      s.type = 'LoadBalancer';
      s.allocateLoadBalancerNodePorts = false;
      s.ports = [
        { name: 'a', port: 80 },
        { name: 'b', port: 81, nodePort: 30002 },
      ];
    });
    const plan = planServiceAllocation(lb, undefined, none, cfg, firstFree);
    expect(plan.service.spec.ports.map((p) => p.nodePort)).toEqual([undefined, 30002]);
    expect(plan.nodePorts).toEqual([30002]);
  });

  it('allocates and keeps a healthCheckNodePort for an externalTrafficPolicy Local LoadBalancer only', () => {
    const local = (name: string) =>
      makeService(name, (s) => {
        s.type = 'LoadBalancer';
        s.externalTrafficPolicy = 'Local';
      });
    const plan = planServiceAllocation(local('lb'), undefined, none, cfg, firstFree);
    expect(plan.service.spec.ports[0]?.nodePort).toBe(30000);
    expect(plan.service.spec.healthCheckNodePort).toBe(30001);
    expect(plan.nodePorts).toEqual([30000, 30001]);
    expect(planServiceAllocation(local('lb'), plan.service, none, cfg, () => 2n).service.spec.healthCheckNodePort).toBe(30001);
    const cluster = makeService('c', (s) => {
      s.type = 'LoadBalancer';
    });
    expect(planServiceAllocation(cluster, undefined, none, cfg, firstFree).service.spec.healthCheckNodePort).toBeUndefined();
  });

  it('assigns a ClusterIP and NodePorts deterministically with firstFree', () => {
    const plan = planServiceAllocation(
      makeService('a', (s) => {
        s.type = 'NodePort';
      }),
      undefined,
      none,
      cfg,
      firstFree,
    );
    expect(plan.ips).toEqual(['10.96.0.1']);
    expect(plan.service.spec.ports[0]?.nodePort).toBe(30000);
  });

  it('keeps the earlier allocation on update and refuses a changed ClusterIP', () => {
    const first = planServiceAllocation(
      makeService('a', (s) => {
        s.type = 'NodePort';
      }),
      undefined,
      none,
      cfg,
      () => 1n,
    ).service;
    const again = planServiceAllocation(
      makeService('a', (s) => {
        s.type = 'NodePort';
      }),
      first,
      none,
      cfg,
      firstFree,
    );
    expect(again.service.spec).toEqual(first.spec);
    expect(() =>
      planServiceAllocation(
        makeService('a', (s) => {
          s.clusterIP = '10.96.0.9';
        }),
        first,
        none,
        cfg,
        firstFree,
      ),
    ).toThrow('service default/a: spec.clusterIP: field is immutable (it is 10.96.0.2)');
  });

  // `keel get -o yaml | keel apply -f -`: the object names its own addresses and ports, which its claims hold.
  it('takes back what the service itself holds when an update names it, and refuses it to any other service', () => {
    const local = (name: string, from?: Service) =>
      makeService(name, (s) => {
        s.type = 'LoadBalancer';
        s.externalTrafficPolicy = 'Local';
        s.ipFamilyPolicy = 'PreferDualStack';
        if (from) {
          s.clusterIPs = from.spec.clusterIPs;
          s.ports = from.spec.ports;
          s.healthCheckNodePort = from.spec.healthCheckNodePort;
        }
      });
    const first = planServiceAllocation(local('lb'), undefined, none, cfg, firstFree);
    const held = (owner: string): Taken => ({
      ips: new Map(first.ips.map((ip) => [ip, owner])),
      nodePorts: new Map(first.nodePorts.map((p) => [p, owner])),
    });
    const again = planServiceAllocation(local('lb', first.service), first.service, held('default/lb'), cfg, firstFree);
    expect([again.ips, again.nodePorts]).toEqual([first.ips, first.nodePorts]);
    expect(again.service.spec).toEqual(first.service.spec);
    expect(() => planServiceAllocation(local('lb', first.service), first.service, held('default/other'), cfg, firstFree)).toThrow(
      'service default/lb: spec.clusterIP: 10.96.0.1 is already allocated (to service default/other)',
    );
    expect(() =>
      planServiceAllocation(local('lb', first.service), first.service, { ...held('default/other'), ips: new Map() }, cfg, firstFree),
    ).toThrow('service default/lb: spec.ports[0].nodePort: 30000 is already allocated (to service default/other)');
  });

  it("keeps each port's NodePort on update by port, protocol and name; a port that changed any of them gets a fresh one", () => {
    const wide: IpamConfig = { ...cfg, nodePorts: { min: 30000, max: 30009 } };
    const ports = (list: object[]) =>
      makeService('a', (s) => {
        s.type = 'NodePort';
        s.ports = list;
      });
    const first = planServiceAllocation(
      ports([
        { name: 'a', port: 80 },
        { name: 'b', port: 81 },
      ]),
      undefined,
      none,
      wide,
      firstFree,
    ).service;
    expect(first.spec.ports.map((p) => p.nodePort)).toEqual([30000, 30001]);
    const mine: Taken = {
      ips: new Map(),
      nodePorts: new Map([
        [30000, 'default/a'],
        [30001, 'default/a'],
      ]),
    };
    const update = (list: object[]) =>
      planServiceAllocation(ports(list), first, mine, wide, firstFree).service.spec.ports.map(
        (p) => `${p.name}/${p.port}/${p.protocol}=${p.nodePort}`,
      );
    expect(
      update([
        { name: 'b', port: 81 },
        { name: 'a', port: 80 },
      ]),
    ).toEqual(['b/81/TCP=30001', 'a/80/TCP=30000']);
    expect(update([{ name: 'a', port: 82 }])).toEqual(['a/82/TCP=30002']);
    expect(update([{ name: 'c', port: 80 }])).toEqual(['c/80/TCP=30002']);
    expect(update([{ name: 'a', port: 80, protocol: 'UDP' }])).toEqual(['a/80/UDP=30002']);
  });

  it('refuses taken and out-of-range requests with the owner named', () => {
    const taken: Taken = { ips: new Map([['10.96.0.5', 'default/x']]), nodePorts: new Map([[30001, 'default/frontend']]) };
    expect(() =>
      planServiceAllocation(
        makeService('b', (s) => {
          s.type = 'NodePort';
          s.ports = [{ port: 80, nodePort: 30001 }];
        }),
        undefined,
        taken,
        cfg,
        firstFree,
      ),
    ).toThrow('service default/b: spec.ports[0].nodePort: 30001 is already allocated (to service default/frontend)');
    expect(() =>
      planServiceAllocation(
        makeService('b', (s) => {
          s.clusterIP = '10.96.0.5';
        }),
        undefined,
        taken,
        cfg,
        firstFree,
      ),
    ).toThrow('spec.clusterIP: 10.96.0.5 is already allocated (to service default/x)');
    expect(() =>
      planServiceAllocation(
        makeService('b', (s) => {
          s.clusterIP = '10.0.0.1';
        }),
        undefined,
        none,
        cfg,
        firstFree,
      ),
    ).toThrow('spec.clusterIP: 10.0.0.1 is not in the service range 10.96.0.0/12');
    expect(() =>
      planServiceAllocation(
        makeService('b', (s) => {
          s.type = 'NodePort';
          s.ports = [{ port: 80, nodePort: 8080 }];
        }),
        undefined,
        none,
        cfg,
        firstFree,
      ),
    ).toThrow('spec.ports[0].nodePort: 8080 is not in the node port range 30000-30002');
  });

  it('says when the node port range is full', () => {
    const taken: Taken = {
      ips: new Map(),
      nodePorts: new Map([
        [30000, 'a/a'],
        [30001, 'a/b'],
        [30002, 'a/c'],
      ]),
    };
    expect(() =>
      planServiceAllocation(
        makeService('d', (s) => {
          s.type = 'NodePort';
        }),
        undefined,
        taken,
        cfg,
        firstFree,
      ),
    ).toThrow('no free node port in 30000-30002');
  });

  it('gives headless and ExternalName services no address and drops node ports from ClusterIP services', () => {
    expect(
      planServiceAllocation(
        makeService('h', (s) => {
          s.clusterIP = 'None';
        }),
        undefined,
        none,
        cfg,
        firstFree,
      ).ips,
    ).toEqual([]);
    const headless = planServiceAllocation(
      makeService('h', (s) => void (s.clusterIP = 'None')),
      undefined,
      none,
      cfg,
      firstFree,
    ).service;
    expect([headless.spec.clusterIP, headless.spec.clusterIPs]).toEqual(['None', ['None']]);
    const np = planServiceAllocation(
      makeService('n', (s) => {
        s.type = 'NodePort';
      }),
      undefined,
      none,
      cfg,
      firstFree,
    ).service;
    const back = planServiceAllocation(makeService('n'), np, none, cfg, firstFree);
    expect(back.nodePorts).toEqual([]);
    expect(back.service.spec.ports[0]?.nodePort).toBeUndefined();
  });

  it('refuses one NodePort asked for by two ports of a service, and names the secondary ClusterIP a conflict is in', () => {
    const twice = makeService('t', (s) => {
      s.type = 'NodePort';
      s.ports = [
        { name: 'a', port: 80, nodePort: 30001 },
        { name: 'b', port: 81, nodePort: 30001 },
      ];
    });
    expect(() => planServiceAllocation(twice, undefined, none, cfg, firstFree)).toThrow(
      'service default/t: spec.ports[1].nodePort: 30001 is used twice in this service',
    );
    const dual = makeService('d', (s) => {
      s.ipFamilyPolicy = 'RequireDualStack';
      s.clusterIPs = ['10.96.0.7', 'fd00:10:96::7'];
    });
    const taken: Taken = { ips: new Map([['fd00:10:96::7', 'default/other']]), nodePorts: new Map() };
    expect(() => planServiceAllocation(dual, undefined, taken, cfg, firstFree)).toThrow(
      'service default/d: spec.clusterIPs[1]: fd00:10:96::7 is already allocated (to service default/other)',
    );
  });

  it('skips taken node ports', () => {
    expect(chooseNodePort({ min: 1, max: 3 }, new Set([1, 2]), firstFree)).toBe(3);
  });
});

describe('node subnets (flannel config)', () => {
  it('uses flannel defaults: /24 subnets, skipping the first', () => {
    const c = subnetConfig('10.244.0.0/16');
    expect(chooseSubnet(c, new Set(), firstFree)?.text).toBe('10.244.1.0/24');
    expect(chooseSubnet(c, new Set(['10.244.1.0/24']), firstFree)?.text).toBe('10.244.2.0/24');
  });

  it('honours SubnetMin/SubnetMax and reports a full network', () => {
    const c = subnetConfig('10.244.0.0/16', 24, '10.244.10.0', '10.244.11.0');
    expect(chooseSubnet(c, new Set(['10.244.10.0/24']), firstFree)?.text).toBe('10.244.11.0/24');
    expect(chooseSubnet(c, new Set(['10.244.10.0/24', '10.244.11.0/24']), firstFree)).toBeUndefined();
  });

  it('rejects a subnet length that does not fit', () => {
    expect(() => subnetConfig('10.244.0.0/16', 12)).toThrow('SubnetLen: 12 must be longer');
  });
});
