import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { decodeStoredWorkload, validateWorkload } from './workload.js';

const rc = (extra = '') =>
  parse(`
apiVersion: v1
kind: ReplicationController
metadata: { name: nginx-controller }
spec:
  replicas: 2
${extra}
  template:
    metadata: { labels: { name: nginx } }
    spec: { containers: [{ name: nginx, image: nginx, ports: [{ containerPort: 80 }] }] }
`) as unknown;

describe('validateWorkload', () => {
  it('defaults an RC selector to the template labels and round-trips through storage', () => {
    const w = validateWorkload(rc());
    expect(w.spec.selector).toEqual({ matchLabels: { name: 'nginx' } });
    expect(w.spec.template.spec.containers[0]?.ports).toEqual([{ containerPort: 80, protocol: 'TCP' }]);
    expect(decodeStoredWorkload('/registry/controllers/default/nginx-controller', Buffer.from(JSON.stringify(w)))).toEqual(w);
  });

  it("reads a Deployment's set-based selector", () => {
    const w = validateWorkload(
      parse(`
apiVersion: apps/v1
kind: Deployment
metadata: { name: frontend }
spec:
  replicas: 3
  selector:
    matchLabels: { app: frontend }
    matchExpressions: [{ key: tier, operator: In, values: [web, edge] }]
  template:
    metadata: { labels: { app: frontend, tier: web } }
    spec: { containers: [{ name: web, image: tomcat }] }
`),
    );
    expect(w.spec.selector.matchExpressions).toEqual([{ key: 'tier', operator: 'In', values: ['web', 'edge'] }]);
  });

  it.each([
    [
      'a selector that misses the template',
      rc('  selector: { name: other }'),
      /replicationcontroller default\/nginx-controller: spec.selector: does not match/,
    ],
    [
      'a bad template container',
      parse(
        'apiVersion: v1\nkind: ReplicationController\nmetadata: {name: r}\nspec: {template: {metadata: {labels: {a: b}}, spec: {containers: []}}}',
      ),
      /spec.template.spec.containers: at least one container/,
    ],
    [
      'an unserved apiVersion',
      parse('apiVersion: apps/v2\nkind: Deployment\nmetadata: {name: d}\nspec: {}'),
      /apiVersion: "apps\/v2" is not served for Deployment/,
    ],
  ])('rejects %s, naming the object and field', (_what, raw, message) => {
    expect(() => validateWorkload(raw)).toThrow(message);
  });
});
