import { UsageError } from '../api/errors.js';
import { resourceByAlias, type ApiObject } from '../api/object.js';
import { createLogger } from '../observe/log.js';
import { matchesSelector, parseSelector, type LabelSelector } from '../api/label-selector.js';
import type { ObjectStore } from '../store/object-store.js';
import { withObjectStore } from './connect.js';
import { parseOutput, renderObjects, resourcePlural } from './get-output.js';
import { changePrinter, watchObjects } from './get-watch.js';
import { notFoundLine } from './not-found.js';
import type { EtcdFlags } from './options.js';

interface GetFlags extends EtcdFlags {
  namespace: string;
  allNamespaces?: boolean;
  output?: string;
  selector?: string;
  showLabels?: boolean;
  watch?: boolean;
}

const log = createLogger('cli');

export async function runGet(resource: string, names: string[], flags: GetFlags): Promise<void> {
  const r = resourceByAlias(resource);
  if (!r)
    throw new UsageError(
      `the server doesn't have a resource type "${resource}" (keel serves services, endpoints, pods, endpointslices, nodes)`,
    );
  const format = parseOutput(flags.output);
  if (flags.selector !== undefined && names.length) throw new UsageError('name cannot be provided when a selector is specified');
  const selector = flags.selector === undefined ? undefined : selectorFlag(flags.selector);
  const namespace = flags.allNamespaces ? undefined : flags.namespace;
  const opts = { allNamespaces: flags.allNamespaces === true, showLabels: flags.showLabels === true };
  await withObjectStore(flags, async (store) => {
    const stop = new AbortController();
    const onInt = (): void => stop.abort();
    process.once('SIGINT', onInt);
    try {
      const watched = flags.watch ? await watchObjects(store, r.kind, namespace, stop.signal) : undefined;
      const all = watched ? watched.initial : await listObjects(store, r.kind, namespace);
      const found = selectObjects(all, r.kind, names, selector);
      for (const line of found.missing) process.stderr.write(`${line}\n`);
      if (found.missing.length) process.exitCode = 1;
      // kubectl: a single name that is missing prints just the error.
      const out =
        names.length === 1 && found.items.length === 0
          ? ''
          : renderObjects(found.items, r.kind, format, opts, names.length === 1, new Date());
      process.stdout.write(out);
      if (out === '' && found.missing.length === 0 && !watched) {
        process.stderr.write(namespace ? `No resources found in ${namespace} namespace.\n` : 'No resources found\n');
      }
      if (!watched) return;
      const print = changePrinter(r.kind, format, opts, out !== '');
      const wanted = (o: ApiObject): boolean =>
        (names.length === 0 || names.includes(o.metadata.name)) && (!selector || matchesSelector(selector, o.metadata.labels));
      await watched.follow((o) => {
        if (wanted(o)) process.stdout.write(print(o));
      }, stop.signal);
    } finally {
      process.off('SIGINT', onInt);
    }
  });
}

function selectorFlag(text: string): LabelSelector {
  try {
    return parseSelector(text, '-l');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function listObjects(store: ObjectStore, kind: ApiObject['kind'], namespace: string | undefined): Promise<ApiObject[]> {
  const listing = await store.list(kind, namespace);
  for (const bad of listing.invalid) log.warn('skipped invalid object', { key: bad.key, reason: bad.error.message });
  return listing.items.map((i) => i.object);
}

interface Selected {
  items: ApiObject[];
  /** kubectl's NotFound line for each name that is not there. */
  missing: string[];
}

/** kubectl's order: the names in the order given, else the listing (filtered by -l). */
function selectObjects(all: ApiObject[], kind: ApiObject['kind'], names: string[], selector: LabelSelector | undefined): Selected {
  if (names.length === 0) return { items: selector ? all.filter((o) => matchesSelector(selector, o.metadata.labels)) : all, missing: [] };
  const items: ApiObject[] = [];
  const missing: string[] = [];
  for (const name of names) {
    const hits = all.filter((o) => o.metadata.name === name);
    if (hits.length) items.push(...hits);
    else missing.push(notFoundLine(resourcePlural(kind), name));
  }
  return { items, missing };
}
