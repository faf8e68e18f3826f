import { duplicateValue, forbidden, invalidValue, unsupportedValue } from './field-error.js';
import { parseIp } from './ip.js';
import type { FieldReader } from './meta.js';
import type { IpFamilyName, IpFamilyPolicy, ServiceSpec, ServiceType } from './service.js';

const FAMILIES: readonly IpFamilyName[] = ['IPv4', 'IPv6'];
const POLICIES: readonly IpFamilyPolicy[] = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];

/**
 * spec.clusterIP, clusterIPs, ipFamilies and ipFamilyPolicy, checked as
 * kube-apiserver's ValidateServiceClusterIPsRelatedFields checks them, with
 * its messages. Whether the cluster has the families asked for is IPAM's
 * question (ipam/ip-family-fields.ts), as it is the apiserver's allocator's.
 */
export function readServiceIpFields(r: FieldReader, s: Record<string, unknown>, spec: ServiceSpec, type: ServiceType): void {
  const single = r.optionalString(s.clusterIP, 'spec.clusterIP');
  const list = r.array(s.clusterIPs, 'spec.clusterIPs').map((v, i) => r.string(v, `spec.clusterIPs[${i}]`));
  const families = r.array(s.ipFamilies, 'spec.ipFamilies').map((v, i) => r.string(v, `spec.ipFamilies[${i}]`));
  const policy = r.optionalString(s.ipFamilyPolicy, 'spec.ipFamilyPolicy');

  if (type === 'ExternalName') {
    const wanted = list.length ? list : single ? [single] : [];
    if (wanted.length && wanted[0] !== 'None') r.fail('spec.clusterIP', 'must be empty for type ExternalName');
    if (families.length) r.fail('spec.ipFamilies', forbidden('may not be set for ExternalName services'));
    if (policy) r.fail('spec.ipFamilyPolicy', forbidden('may not be set for ExternalName services'));
    return;
  }
  // An empty clusterIP with clusterIPs set is filled from clusterIPs[0], as the apiserver's strategy (normalizeClusterIPs) does.
  if (single && list.length && list[0] !== single) r.fail('spec.clusterIPs', invalidValue(list, 'first value must match `clusterIP`'));
  const wanted = list.length ? list : single ? [single] : [];

  const seen = new Set<string>();
  families.forEach((f, i) => {
    if (!(FAMILIES as readonly string[]).includes(f)) r.fail(`spec.ipFamilies[${i}]`, unsupportedValue(f, FAMILIES));
    if (seen.has(f)) r.fail(`spec.ipFamilies[${i}]`, duplicateValue(f));
    seen.add(f);
  });
  if (families.length) spec.ipFamilies = families as IpFamilyName[];
  if (policy) {
    if (!(POLICIES as readonly string[]).includes(policy)) r.fail('spec.ipFamilyPolicy', unsupportedValue(policy, POLICIES));
    spec.ipFamilyPolicy = policy as IpFamilyPolicy;
  }

  if (wanted.length === 0) return;
  if (wanted[0] === 'None') {
    if (wanted.length > 1) r.fail('spec.clusterIPs', invalidValue(wanted, "'None' must be the first and only value"));
    if (type !== 'ClusterIP') r.fail('spec.clusterIP', `"None" (headless) is only valid for type ClusterIP, not ${type}`);
    spec.clusterIP = 'None';
    spec.clusterIPs = ['None'];
    return;
  }
  const ips = wanted.map((v, i) => {
    const ip = v === 'None' ? undefined : parseIp(v);
    if (!ip) r.fail(`spec.clusterIPs[${i}]`, `${JSON.stringify(v)} is not an IP address`);
    return ip;
  });
  if (wanted.length > 2) r.fail('spec.clusterIPs', invalidValue(wanted, 'may only hold up to 2 values'));
  if (ips.length === 2 && ips[0]?.family === ips[1]?.family) {
    r.fail('spec.clusterIPs', invalidValue(wanted, 'may specify no more than one IP for each IP family'));
  }
  ips.forEach((ip, i) => {
    const family = families[i];
    if (family !== undefined && family !== `IPv${ip.family}`) {
      r.fail(
        `spec.clusterIPs[${i}]`,
        invalidValue(wanted[i] as string, `expected an ${family} value as indicated by \`ipFamilies[${i}]\``),
      );
    }
  });
  spec.clusterIPs = ips.map((ip) => ip.text);
  spec.clusterIP = spec.clusterIPs[0] as string;
}
