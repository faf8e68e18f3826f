import { ValidationError } from '../api/errors.js';
import { invalidValue } from '../api/field-error.js';
import { parseIp, type IpFamily } from '../api/ip.js';
import { subjectOf } from '../api/meta.js';
import { isHeadless, type IpFamilyName, type Service } from '../api/service.js';

interface FieldProblem {
  field: string;
  body: string;
}

const familyName = (f: IpFamily): IpFamilyName => (f === 6 ? 'IPv6' : 'IPv4');
const other = (f: IpFamilyName): IpFamilyName => (f === 'IPv4' ? 'IPv6' : 'IPv4');

/**
 * Settles a service's ipFamilyPolicy, ipFamilies and the clusterIPs it
 * keeps, as kube-apiserver's allocator does before allocating
 * (pkg/registry/core/service/storage/alloc.go, initIPFamilyFields): the
 * policy defaults to the existing one, else SingleStack (RequireDualStack
 * for a headless service without selector); families are inferred from the
 * IPs asked for, then the cluster's default (the first
 * --service-cluster-ip-range); a dual-stack policy adds the other family
 * where the cluster has both. keel's apply replaces the whole object, so an
 * update that leaves clusterIPs or ipFamilies out keeps the existing ones
 * (a SingleStack policy keeps only the primary: the apiserver's way to
 * release the secondary). `configured` lists the cluster's families, the
 * default first. Mutates `service` (a clone the caller owns); throws the
 * apiserver's field errors as one ValidationError.
 */
export function initIpFamilyFields(service: Service, existing: Service | undefined, configured: readonly IpFamily[]): void {
  const spec = service.spec;
  if (spec.type === 'ExternalName') return;
  const subject = subjectOf('Service', service.metadata.namespace, service.metadata.name);
  const problems: FieldProblem[] = [];
  const bail = (): void => {
    if (problems.length) throw fieldErrors(subject, problems);
  };
  const before = existing && existing.spec.type !== 'ExternalName' ? existing.spec : undefined;
  const policy = (spec.ipFamilyPolicy ??=
    before?.ipFamilyPolicy ?? (isHeadless(service) && !spec.selector ? 'RequireDualStack' : 'SingleStack'));

  if (before && !spec.clusterIPs?.length && before.clusterIPs?.length && isHeadless(service) === isHeadless(existing as Service)) {
    spec.clusterIPs = policy === 'SingleStack' ? before.clusterIPs.slice(0, 1) : [...before.clusterIPs];
    spec.clusterIP = spec.clusterIPs[0] as string;
  }
  if (before && !spec.ipFamilies?.length && before.ipFamilies?.length) {
    spec.ipFamilies = policy === 'SingleStack' ? before.ipFamilies.slice(0, 1) : [...before.ipFamilies];
  }
  if (before && policy !== 'SingleStack') {
    if ((spec.clusterIPs?.length ?? 0) < (before.clusterIPs?.length ?? 0) && !isHeadless(service)) {
      problems.push({
        field: 'spec.ipFamilyPolicy',
        body: invalidValue(policy, "must be 'SingleStack' to release the secondary cluster IP"),
      });
    }
    if ((spec.ipFamilies?.length ?? 0) < (before.ipFamilies?.length ?? 0)) {
      problems.push({
        field: 'spec.ipFamilyPolicy',
        body: invalidValue(policy, "must be 'SingleStack' to release the secondary IP family"),
      });
    }
  }
  if (policy === 'SingleStack') {
    if (spec.clusterIPs?.length === 2) {
      problems.push({
        field: 'spec.ipFamilyPolicy',
        body: invalidValue(policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"),
      });
    }
    if (spec.ipFamilies?.length === 2) {
      problems.push({
        field: 'spec.ipFamilyPolicy',
        body: invalidValue(policy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"),
      });
    }
  }

  const families: IpFamilyName[] = [...(spec.ipFamilies ?? [])];
  const ips = isHeadless(service) ? [] : (spec.clusterIPs ?? []);
  ips.forEach((text, i) => {
    const family = parseIp(text)?.family;
    if (family === undefined || i < families.length) return;
    if (configured.includes(family)) families.push(familyName(family));
    else
      problems.push({ field: `spec.clusterIPs[${i}]`, body: invalidValue(ips, `${familyName(family)} is not configured on this cluster`) });
  });
  bail();

  const defaultFamily = familyName(configured[0] ?? 4);
  if (isHeadless(service) && !spec.selector) {
    // Headless without selector: its endpoints are written by hand, so either family is allowed whatever the cluster has.
    if (!families.length) families.push(defaultFamily);
    if (families.length < 2 && policy !== 'SingleStack') families.push(other(families[0] as IpFamilyName));
    spec.ipFamilies = families;
    return;
  }
  if (policy === 'RequireDualStack' && configured.length < 2) {
    problems.push({ field: 'spec.ipFamilyPolicy', body: invalidValue(policy, 'this cluster is not configured for dual-stack services') });
  }
  families.forEach((f, i) => {
    if (!configured.includes(f === 'IPv6' ? 6 : 4))
      problems.push({ field: `spec.ipFamilies[${i}]`, body: invalidValue(f, 'not configured on this cluster') });
  });
  bail();
  if (!families.length) families.push(defaultFamily);
  if (policy !== 'SingleStack' && families.length === 1 && configured.length === 2) families.push(other(families[0] as IpFamilyName));
  spec.ipFamilies = families;
}

/** One problem reads `field: body`; several, as the apiserver joins them, `[a: x, b: y]`. */
function fieldErrors(subject: string, problems: readonly FieldProblem[]): ValidationError {
  const [first] = problems;
  if (problems.length === 1 && first) return new ValidationError(subject, first.field, first.body);
  return new ValidationError(subject, '', `[${problems.map((p) => `${p.field}: ${p.body}`).join(', ')}]`);
}
