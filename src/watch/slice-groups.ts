import { namespacedName, type NamespacedName } from '../api/cluster-state.js';
import { bySliceName, sliceServiceKey, type EndpointSlice } from '../api/endpoint-slice.js';

/** A service whose slices changed: its group before and after (undefined: no slice). */
export interface SliceGroupChange {
  key: NamespacedName;
  before: readonly EndpointSlice[] | undefined;
  after: readonly EndpointSlice[] | undefined;
}

/**
 * EndpointSlices joined to their services by the kubernetes.io/service-name
 * label, kept up to date one slice event at a time. Each service's group is
 * a new array, sorted by slice name, only when one of its slices changed, so
 * consumers compare groups by identity. Slices without the label belong to
 * no service and are left out, as kube-proxy leaves them out.
 */
export class SliceGroups {
  private readonly slices = new Map<NamespacedName, EndpointSlice>();
  private readonly members = new Map<NamespacedName, Map<string, EndpointSlice>>();
  private readonly groups = new Map<NamespacedName, readonly EndpointSlice[]>();

  /** How many slices are held (labelled or not): `auto` takes slices when there is any. */
  get size(): number {
    return this.slices.size;
  }

  byService(): ReadonlyMap<NamespacedName, readonly EndpointSlice[]> {
    return this.groups;
  }

  /** Records one slice's new state (undefined: deleted); returns the services whose group changed. */
  apply(namespace: string, name: string, current: EndpointSlice | undefined): SliceGroupChange[] {
    const sliceKey = namespacedName(namespace, name);
    const previous = this.slices.get(sliceKey);
    if (current) this.slices.set(sliceKey, current);
    else this.slices.delete(sliceKey);
    const keys = new Set([previous && sliceServiceKey(previous), current && sliceServiceKey(current)]);
    const changes: SliceGroupChange[] = [];
    for (const key of keys) {
      if (key === undefined) continue;
      const members = this.members.get(key) ?? new Map<string, EndpointSlice>();
      if (current && sliceServiceKey(current) === key) members.set(name, current);
      else members.delete(name);
      const before = this.groups.get(key);
      const after = members.size ? [...members.values()].sort(bySliceName) : undefined;
      if (after) {
        this.members.set(key, members);
        this.groups.set(key, after);
      } else {
        this.members.delete(key);
        this.groups.delete(key);
      }
      changes.push({ key, before, after });
    }
    return changes;
  }
}
