import { KeelError } from '../api/errors.js';
import type { ResourceKind } from '../api/meta.js';
import { resourcePlural } from './get-output.js';

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
  constructor(readonly object: ObjectName) {
    super('KEEL_NOT_FOUND', notFoundLine(resourcePlural(object.kind), object.name));
  }
}

/** `plural` as kubectl names the resource: services, endpoints, pods, deployments. */
export function notFoundLine(plural: string, name: string): string {
  return `Error from server (NotFound): ${plural} "${name}" not found`;
}
