import { describe, expect, it } from 'vitest';
import { ValidationError } from '../api/errors.js';
import type { IpFamily } from '../api/ip.js';
import { validateService, type Service } from '../api/service.js';
import { initIpFamilyFields } from './ip-family-fields.js';

// Cases after kube-apiserver's alloc.go initIPFamilyFields and its tests (storage_test.go TestCreateInitIPFields):
// v4 = an IPv4-only cluster, v6 = IPv6-only, v4v6 / v6v4 = dual-stack with that primary.
const v4: IpFamily[] = [4];
const v6: IpFamily[] = [6];
const v4v6: IpFamily[] = [4, 6];
const v6v4: IpFamily[] = [6, 4];

function svc(spec: Record<string, unknown>): Service {
  return validateService({ metadata: { name: 'web' }, spec: { ports: [{ port: 80 }], selector: { app: 'web' }, ...spec } });
}

function settle(spec: Record<string, unknown>, cluster: readonly IpFamily[], existing?: Service): Service['spec'] {
  const s = svc(spec);
  initIpFamilyFields(s, existing, cluster);
  return s.spec;
}

describe('initIpFamilyFields', () => {
  it.each([
    ['nothing asked, IPv4 cluster', {}, v4, 'SingleStack', ['IPv4']],
    ['nothing asked, IPv6 cluster', {}, v6, 'SingleStack', ['IPv6']],
    ['nothing asked, dual-stack cluster: its primary family only', {}, v6v4, 'SingleStack', ['IPv6']],
    ['PreferDualStack on a single-stack cluster', { ipFamilyPolicy: 'PreferDualStack' }, v4, 'PreferDualStack', ['IPv4']],
    ['PreferDualStack on a dual-stack cluster', { ipFamilyPolicy: 'PreferDualStack' }, v4v6, 'PreferDualStack', ['IPv4', 'IPv6']],
    [
      'RequireDualStack asking IPv6 first',
      { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'] },
      v4v6,
      'RequireDualStack',
      ['IPv6', 'IPv4'],
    ],
    ['families inferred from the IPs asked for', { clusterIPs: ['fd00:10:96::5'] }, v4v6, 'SingleStack', ['IPv6']],
    ['the family asked for on a single-stack cluster', { ipFamilies: ['IPv4'] }, v4, 'SingleStack', ['IPv4']],
    [
      'headless without selector defaults to both families',
      { clusterIP: 'None', selector: null },
      v4,
      'RequireDualStack',
      ['IPv4', 'IPv6'],
    ],
    ['headless with selector follows the cluster', { clusterIP: 'None' }, v4, 'SingleStack', ['IPv4']],
    // Its endpoints are written by hand, so any family goes, whatever the cluster has.
    ['headless without selector on an IPv6 cluster', { clusterIP: 'None', selector: null }, v6, 'RequireDualStack', ['IPv6', 'IPv4']],
    [
      'headless without selector, SingleStack',
      { clusterIP: 'None', selector: null, ipFamilyPolicy: 'SingleStack' },
      v4,
      'SingleStack',
      ['IPv4'],
    ],
    [
      'headless without selector asking the family the cluster lacks',
      { clusterIP: 'None', selector: null, ipFamilies: ['IPv6'] },
      v4,
      'RequireDualStack',
      ['IPv6', 'IPv4'],
    ],
    [
      'headless without selector asking both families',
      { clusterIP: 'None', selector: null, ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] },
      v4,
      'PreferDualStack',
      ['IPv4', 'IPv6'],
    ],
  ])('%s', (_name, spec, cluster, policy, families) => {
    const out = settle(spec, cluster);
    expect(out.ipFamilyPolicy).toBe(policy);
    expect(out.ipFamilies).toEqual(families);
  });

  it.each([
    [
      'a family the cluster lacks',
      { ipFamilies: ['IPv6'] },
      v4,
      'service default/web: spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster',
    ],
    [
      'RequireDualStack on a single-stack cluster',
      { ipFamilyPolicy: 'RequireDualStack' },
      v4,
      'service default/web: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services',
    ],
    [
      'an IP of a family the cluster lacks',
      { clusterIPs: ['fd00:10:96::5'] },
      v4,
      'service default/web: spec.clusterIPs[0]: Invalid value: []string{"fd00:10:96::5"}: IPv6 is not configured on this cluster',
    ],
    [
      'SingleStack with two IPs',
      { ipFamilyPolicy: 'SingleStack', clusterIPs: ['10.96.0.5', 'fd00:10:96::5'] },
      v4v6,
      "service default/web: spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
    ],
    [
      'SingleStack with two families (the apiserver stops at this stage, before the missing IPv6)',
      { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4', 'IPv6'] },
      v4,
      "service default/web: spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
    ],
  ])('refuses %s with the apiserver message', (_name, spec, cluster, message) => {
    // Every refusal is checked for its type too: `toThrow('text')` alone passes when the code throws
    // undefined (chai skips the message check), and initIpFamilyFields throws what fieldErrors() returns.
    expect(() => settle(spec, cluster)).toThrow(ValidationError);
    expect(() => settle(spec, cluster)).toThrow(message);
  });

  it('reports every problem of one stage together, in one line', () => {
    const run = (): unknown => settle({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'] }, v4);
    expect(run).toThrow(ValidationError);
    expect(run).toThrow(
      'service default/web: [spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services, spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster]',
    );
  });

  it('throws a ValidationError naming the service and the field, or with several problems no single field', () => {
    const refusal = (spec: Record<string, unknown>, cluster: readonly IpFamily[]): unknown => {
      try {
        settle(spec, cluster);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const one = refusal({ ipFamilies: ['IPv6'] }, v4);
    expect(one).toBeInstanceOf(ValidationError);
    expect(one).toMatchObject({ subject: 'service default/web', field: 'spec.ipFamilies[0]' });
    const several = refusal({ ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6'] }, v4);
    expect(several).toBeInstanceOf(ValidationError);
    expect(several).toMatchObject({ subject: 'service default/web', field: '' });
  });

  it('takes both the families and the IPs a service names, each family once', () => {
    const out = settle({ ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4'], clusterIPs: ['10.96.0.5'] }, v4v6);
    expect([out.ipFamilies, out.clusterIPs]).toEqual([['IPv4', 'IPv6'], ['10.96.0.5']]);
    expect(settle({ ipFamilies: ['IPv6'], clusterIPs: ['fd00:10:96::5'] }, v6v4).ipFamilies).toEqual(['IPv6']);
  });

  it('keeps an existing dual-stack service as it is when the update names neither IPs nor families', () => {
    const existing = svc({ ipFamilyPolicy: 'PreferDualStack', clusterIPs: ['10.96.0.5', 'fd00:10:96::5'], ipFamilies: ['IPv4', 'IPv6'] });
    const out = settle({}, v4v6, existing);
    expect([out.ipFamilyPolicy, out.ipFamilies, out.clusterIPs]).toEqual([
      'PreferDualStack',
      ['IPv4', 'IPv6'],
      ['10.96.0.5', 'fd00:10:96::5'],
    ]);
  });

  it('releases the secondary family when the update says SingleStack', () => {
    const existing = svc({ ipFamilyPolicy: 'PreferDualStack', clusterIPs: ['10.96.0.5', 'fd00:10:96::5'], ipFamilies: ['IPv4', 'IPv6'] });
    const out = settle({ ipFamilyPolicy: 'SingleStack' }, v4v6, existing);
    expect([out.ipFamilies, out.clusterIPs]).toEqual([['IPv4'], ['10.96.0.5']]);
  });

  it('refuses to drop the secondary IP under a dual-stack policy', () => {
    const existing = svc({ ipFamilyPolicy: 'PreferDualStack', clusterIPs: ['10.96.0.5', 'fd00:10:96::5'], ipFamilies: ['IPv4', 'IPv6'] });
    const run = (): unknown =>
      settle({ ipFamilyPolicy: 'RequireDualStack', clusterIPs: ['10.96.0.5'], ipFamilies: ['IPv4', 'IPv6'] }, v4v6, existing);
    expect(run).toThrow(ValidationError);
    expect(run).toThrow(
      'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": must be \'SingleStack\' to release the secondary cluster IP',
    );
  });

  it('refuses to drop the secondary family under a dual-stack policy', () => {
    const existing = svc({ ipFamilyPolicy: 'PreferDualStack', clusterIPs: ['10.96.0.5', 'fd00:10:96::5'], ipFamilies: ['IPv4', 'IPv6'] });
    const run = (): unknown => settle({ ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4'] }, v4v6, existing);
    expect(run).toThrow(ValidationError);
    expect(run).toThrow(
      'service default/web: spec.ipFamilyPolicy: Invalid value: "PreferDualStack": must be \'SingleStack\' to release the secondary IP family',
    );
  });

  it('gives a headless service that becomes a ClusterIP service none of its old "None"', () => {
    const existing = svc({ clusterIP: 'None' });
    initIpFamilyFields(existing, undefined, v4);
    const out = settle({}, v4, existing);
    expect([out.clusterIPs, out.ipFamilies]).toEqual([undefined, ['IPv4']]);
  });

  it('leaves ExternalName services alone', () => {
    const out = settle({ type: 'ExternalName', externalName: 'example.com', ports: [], selector: null }, v4v6);
    expect([out.ipFamilyPolicy, out.ipFamilies]).toEqual([undefined, undefined]);
  });
});
