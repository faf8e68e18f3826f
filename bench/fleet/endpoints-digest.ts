import { createHash } from 'node:crypto';

/**
 * One hash of a set of (etcd key, mod revision) pairs: a node's Endpoints
 * cache and etcd's listing hash alike exactly when the node holds every
 * object at the revision etcd has, so a relist storm's end state is checked
 * for every node, not just the one change the bench timed.
 */
export function endpointsDigest(pairs: Iterable<readonly [string, number]>): string {
  const lines = [...pairs].map(([key, rev]) => `${key} ${rev}`).sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}
