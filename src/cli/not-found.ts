import { KeelError } from '../api/errors.js';
import type { ResourceKind } from '../api/meta.js';

export interface ObjectName {
  kind: ResourceKind;
  namespace: string;
  name: string;
}

/**
 * An object asked for by name is not in etcd, worded as kubectl words it
 * (`Error from server (NotFound): services "web" not found`) so scripts
 * that match kubectl's message keep working. main prints it without the
 * `keel:` prefix, exactly as kubectl does.
 */
export class ServerNotFoundError extends KeelError {
  override name = 'ServerNotFoundError' as const;
  /** `plural` as `notFoundLine` takes it (resourcePlural), so that main, which tells this error apart, loads no resource table. */
  constructor(
    readonly object: ObjectName,
    plural: string,
  ) {
    super('KEEL_NOT_FOUND', notFoundLine(plural, object.name));
  }
}

/** `plural` as kubectl names the resource: services, endpoints, pods, deployments. */
export function notFoundLine(plural: string, name: string): string {
  return `Error from server (NotFound): ${plural} "${name}" not found`;
}
