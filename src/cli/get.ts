import type { Command } from 'commander';
import { stringify } from 'yaml';
import { UsageError } from '../api/errors.js';
import { resourceByAlias, type ApiObject } from '../api/object.js';
import { createLogger } from '../observe/log.js';
import { withObjectStore } from './connect.js';
import { COLUMNS, formatTable } from './get-columns.js';
import { addEtcdOptions, keelOption, type EtcdFlags } from './options.js';

interface GetFlags extends EtcdFlags {
  namespace: string;
  allNamespaces?: boolean;
  output?: string;
}

const log = createLogger('cli');

export function registerGet(program: Command): void {
  const cmd = program.command('get')
    .description('list Services, Endpoints or Pods as kubectl does (-o wide|json|yaml)')
    .argument('<resource>', 'services (svc) | endpoints (ep) | pods (po)')
    .argument('[names...]', 'only these objects')
    .addOption(keelOption('-n, --namespace <ns>', 'namespace', 'default'))
    .addOption(keelOption('-A, --all-namespaces', 'every namespace'))
    .addOption(keelOption('-o, --output <format>', 'wide, json or yaml'));
  addEtcdOptions(cmd).action(async (resource: string, names: string[], flags: GetFlags) => {
    const r = resourceByAlias(resource);
    if (!r) throw new UsageError(`get: unknown resource "${resource}" (services, endpoints, pods)`);
    if (flags.output && !['wide', 'json', 'yaml'].includes(flags.output)) throw new UsageError(`-o: "${flags.output}" is not one of wide, json, yaml`);
    const listing = await withObjectStore(flags, (store) => store.list(r.kind, flags.allNamespaces ? undefined : flags.namespace));
    for (const bad of listing.invalid) log.warn('skipped invalid object', { key: bad.key, reason: bad.error.message });
    const items = listing.items.map((i) => i.object).filter((o) => names.length === 0 || names.includes(o.metadata.name));
    process.stdout.write(render(items, r.kind, flags));
  });
}

function render(items: ApiObject[], kind: ApiObject['kind'], flags: GetFlags): string {
  if (flags.output === 'json' || flags.output === 'yaml') {
    const list = { apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } };
    return flags.output === 'json' ? `${JSON.stringify(list, null, 2)}\n` : stringify(list);
  }
  if (items.length === 0) {
    return flags.allNamespaces ? 'No resources found\n' : `No resources found in ${flags.namespace} namespace.\n`;
  }
  const cols = COLUMNS[kind];
  const wide = flags.output === 'wide';
  const now = new Date();
  const header = [...(flags.allNamespaces ? ['NAMESPACE'] : []), ...cols.headers, ...(wide ? cols.wideHeaders : [])];
  const rows = items.map((o) => [...(flags.allNamespaces ? [o.metadata.namespace] : []), ...cols.row(o, now), ...(wide ? cols.wideRow(o, now) : [])]);
  return `${formatTable([header, ...rows])}\n`;
}
