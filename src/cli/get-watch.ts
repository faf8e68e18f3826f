import type { ResourceKind } from '../api/meta.js';
import type { ApiObject } from '../api/object.js';
import { formatTable } from './get-columns.js';
import { renderObjects, tableHeader, tableRow, type OutputFormat, type TableOptions } from './get-output.js';
import { Informer, type InformerEvent } from '../watch/informer.js';
import { decodeStored, type ObjectStore } from '../store/object-store.js';

export interface WatchedObjects {
  /** The first listing, consistent at one revision; later changes go to `onChange`. */
  initial: ApiObject[];
  /** Calls `onChange` for every later change until `signal` aborts (SIGINT in the CLI). */
  follow(onChange: (o: ApiObject) => void, signal: AbortSignal): Promise<void>;
}

/**
 * `get -w` rides the same list+watch informer as the agent, so a dropped
 * stream resumes and a compacted revision becomes a relist whose
 * differences print as changes. A deleted object prints its last state,
 * as kubectl prints it.
 */
export async function watchObjects(
  store: ObjectStore,
  kind: ResourceKind,
  namespace: string | undefined,
  signal: AbortSignal,
): Promise<WatchedObjects> {
  const informer = new Informer<ApiObject>({
    store: store.kv,
    prefix: store.kindPrefix(kind, namespace),
    resource: `get-${kind.toLowerCase()}`,
    decode: (key, value, modRevision) => decodeStored(kind, { key, value, modRevision }),
  });
  const queued: InformerEvent<ApiObject>[] = [];
  let sink: ((ev: InformerEvent<ApiObject>) => void) | undefined;
  await informer.start(signal);
  // Subscribed before any other await: no change can slip between the listing and here.
  informer.subscribe((ev) => (sink ? sink(ev) : queued.push(ev)));
  const initial = [...informer.items().values()].sort(byNamespaceName);
  return {
    initial,
    follow: (onChange, sig) =>
      new Promise<void>((resolve) => {
        sink = (ev) => onChange(ev.object);
        for (const ev of queued.splice(0)) sink(ev);
        if (sig.aborted) resolve();
        sig.addEventListener('abort', () => resolve(), { once: true });
      }),
  };
}

/**
 * One change as `get -w` prints it. Tables print the header once (before
 * the first line when the listing printed none) and each change as one row
 * aligned to it; other formats print the object as they print one object.
 */
export function changePrinter(
  kind: ResourceKind,
  format: OutputFormat,
  opts: Omit<TableOptions, 'wide'>,
  headerPrinted: boolean,
): (o: ApiObject) => string {
  let header = headerPrinted;
  return (o) => {
    if (format.type !== 'table') return renderObjects([o], kind, format, opts, true, new Date());
    const t = { ...opts, wide: format.wide };
    const lines = formatTable([tableHeader(kind, t), tableRow(o, t, new Date())]).split('\n');
    const out = header ? lines.slice(1) : lines;
    header = true;
    return `${out.join('\n')}\n`;
  };
}

function byNamespaceName(a: ApiObject, b: ApiObject): number {
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
