import { stringify } from 'yaml';
import { UsageError } from '../api/errors.js';
import { RESOURCES, type ApiObject } from '../api/object.js';
import type { ResourceKind } from '../api/meta.js';
import { COLUMNS, formatTable } from './get-columns.js';
import { executeTemplate, parseTemplate, type Template } from './jsonpath.js';

/** What `-o` asked for; `table` is the default human-readable one. */
export type OutputFormat = { type: 'table'; wide: boolean } | { type: 'json' | 'yaml' | 'name' } | { type: 'jsonpath'; template: Template };

export function parseOutput(value: string | undefined): OutputFormat {
  if (value === undefined || value === '') return { type: 'table', wide: false };
  if (value === 'wide') return { type: 'table', wide: true };
  if (value === 'json' || value === 'yaml' || value === 'name') return { type: value };
  const jp = /^jsonpath=(.*)$/s.exec(value);
  if (jp) return { type: 'jsonpath', template: parseTemplate(jp[1] as string) };
  throw new UsageError(
    `unable to match a printer suitable for the output format "${value}", allowed formats are: json,jsonpath,name,wide,yaml`,
  );
}

export interface TableOptions {
  allNamespaces: boolean;
  wide: boolean;
  showLabels: boolean;
}

/** kubectl's lowercase plural, as its messages name a resource: `services "web" not found`. */
export function resourcePlural(kind: ResourceKind): string {
  return RESOURCES[kind].aliases[0];
}

/** `service/web`, as `-o name` prints it. */
function objectName(o: ApiObject): string {
  return `${o.kind.toLowerCase()}/${o.metadata.name}`;
}

export function tableHeader(kind: ResourceKind, opts: TableOptions): string[] {
  const cols = COLUMNS[kind];
  return [
    ...(opts.allNamespaces ? ['NAMESPACE'] : []),
    ...cols.headers,
    ...(opts.wide ? cols.wideHeaders : []),
    ...(opts.showLabels ? ['LABELS'] : []),
  ];
}

export function tableRow(o: ApiObject, opts: TableOptions, now: Date): string[] {
  const cols = COLUMNS[o.kind];
  return [
    ...(opts.allNamespaces ? [o.metadata.namespace] : []),
    ...cols.row(o, now),
    ...(opts.wide ? cols.wideRow(o, now) : []),
    ...(opts.showLabels ? [labelsColumn(o.metadata.labels)] : []),
  ];
}

function labelsColumn(labels: Record<string, string> | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '<none>';
}

/**
 * Prints what `get` found. `single` is kubectl's rule for structured output:
 * one object asked for by name prints as itself, anything else as a List.
 * Returns '' for an empty table: the caller says "No resources found" on stderr.
 */
export function renderObjects(
  items: ApiObject[],
  kind: ResourceKind,
  format: OutputFormat,
  opts: Omit<TableOptions, 'wide'>,
  single: boolean,
  now: Date,
): string {
  const data = single && items[0] ? items[0] : { apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } };
  switch (format.type) {
    case 'json':
      return `${JSON.stringify(data, null, 4)}\n`;
    case 'yaml':
      return stringify(data);
    case 'name':
      return items.map((o) => `${objectName(o)}\n`).join('');
    case 'jsonpath':
      return executeTemplate(format.template, data);
    case 'table': {
      if (items.length === 0) return '';
      const t = { ...opts, wide: format.wide };
      return `${formatTable([tableHeader(kind, t), ...items.map((o) => tableRow(o, t, now))])}\n`;
    }
  }
}
