import { describe, expect, it } from 'vitest';
import { renderResolvConf } from './resolv-conf.js';

describe('renderResolvConf', () => {
  it("writes kubelet's ClusterFirst file", () => {
    expect(renderResolvConf({ nameservers: ['10.96.0.10'], namespace: 'shop', zone: 'Cluster.Local.' })).toBe(
      'nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n',
    );
  });
});
