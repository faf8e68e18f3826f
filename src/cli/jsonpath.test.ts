import { describe, expect, it } from 'vitest';
import { UsageError } from '../api/errors.js';
import { executeTemplate, parseTemplate } from './jsonpath.js';

// The examples of kubectl's JSONPath reference (kubernetes.io/docs/reference/kubectl/jsonpath/),
// on a List shaped as `kubectl get … -o json` prints it.
const list = {
  kind: 'List',
  items: [
    {
      kind: 'None',
      metadata: { name: '127.0.0.1', labels: { 'app.kubernetes.io/name': 'a' } },
      status: { capacity: { cpu: '4' }, addresses: [{ type: 'LegacyHostIP', address: '127.0.0.1' }] },
    },
    {
      kind: 'None',
      metadata: { name: '127.0.0.2' },
      status: {
        capacity: { cpu: '8' },
        addresses: [
          { type: 'LegacyHostIP', address: '127.0.0.2' },
          { type: 'another', address: '127.0.0.3' },
        ],
      },
    },
  ],
  users: [
    { name: 'myself', user: {} },
    { name: 'e2e', user: { username: 'admin', password: 'secret' } },
  ],
};

const run = (t: string, data: unknown = list): string => executeTemplate(parseTemplate(t), data);

describe('kubectl JSONPath templates', () => {
  it.each([
    ['{.kind}', 'List'],
    ['{.items[0].metadata.name}', '127.0.0.1'],
    ['{.items[*].metadata.name}', '127.0.0.1 127.0.0.2'],
    ['{.items[-1].metadata.name}', '127.0.0.2'],
    ['{.items[0:1].status.capacity}', '{"cpu":"4"}'],
    ['{.items[*].status.addresses[?(@.type=="another")].address}', '127.0.0.3'],
    ['{.users[?(@.user.username)].name}', 'e2e'],
    ['{..address}', '127.0.0.1 127.0.0.2 127.0.0.3'],
    ["{.items[0].metadata.labels['app.kubernetes.io/name']}", 'a'],
    ['{.users[0].user}', '{}'],
    ['{.nothing.here}', ''],
    ['name: {.items[1].metadata.name}!', 'name: 127.0.0.2!'],
    ['{range .items[*]}[{.metadata.name}, {.status.capacity.cpu}] {end}', '[127.0.0.1, 4] [127.0.0.2, 8] '],
    [
      '{range .items[*]}{.metadata.name}{"\\t"}{range .status.addresses[*]}{.address},{end}{"\\n"}{end}',
      '127.0.0.1\t127.0.0.1,\n127.0.0.2\t127.0.0.2,127.0.0.3,\n',
    ],
    ['{.items[?(@.status.capacity.cpu=="8")].metadata.name}', '127.0.0.2'],
  ])('%s', (template, expected) => {
    expect(run(template)).toBe(expected);
  });

  it('runs against the object itself when one object was asked for', () => {
    expect(run('{.metadata.name}', list.items[0])).toBe('127.0.0.1');
  });

  it.each(['{.items[0]', '{range .items[*]}{.x}', '{end}', '{.items[?(@.a ~ 1)]}'])('rejects %s with a one-line usage error', (t) => {
    // The type too: toThrow(/text/) alone passes when a falsy value is thrown (parseTemplate throws what bad() returns).
    expect(() => parseTemplate(t)).toThrow(UsageError);
    expect(() => parseTemplate(t)).toThrow(/^error parsing jsonpath/);
  });
});
