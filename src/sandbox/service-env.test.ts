import { describe, expect, it } from 'vitest';
import type { Service } from '../api/service.js';
import { resolvConf, serviceEnv } from './service-env.js';

const svc = (name: string, namespace: string, clusterIP: string): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace },
  spec: {
    type: 'ClusterIP',
    clusterIP,
    ports: [{ name: 'redis', protocol: 'TCP', port: 6379, targetPort: 6379 }],
    sessionAffinity: 'None',
  },
});

describe('serviceEnv', () => {
  it('gives the seed 000 variables for services of the pod namespace only', () => {
    const env = serviceEnv(
      [svc('redis-master', 'default', '10.96.0.12'), svc('other', 'prod', '10.96.0.13'), svc('headless', 'default', 'None')],
      'default',
    );
    expect(env).toEqual({
      REDIS_MASTER_SERVICE_HOST: '10.96.0.12',
      REDIS_MASTER_SERVICE_PORT: '6379',
      REDIS_MASTER_SERVICE_PORT_REDIS: '6379',
      REDIS_MASTER_PORT: 'tcp://10.96.0.12:6379',
      REDIS_MASTER_PORT_6379_TCP: 'tcp://10.96.0.12:6379',
      REDIS_MASTER_PORT_6379_TCP_PROTO: 'tcp',
      REDIS_MASTER_PORT_6379_TCP_PORT: '6379',
      REDIS_MASTER_PORT_6379_TCP_ADDR: '10.96.0.12',
    });
  });

  it('writes the kubelet resolv.conf', () => {
    expect(resolvConf('default', '10.96.0.10', 'cluster.local')).toBe(
      'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
    );
  });
});
