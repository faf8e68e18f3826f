import type { Command } from 'commander';
import { addEtcdOptions, keelOption } from '../options.js';
import { lazy } from './lazy.js';

export function registerGet(program: Command): void {
  const cmd = program
    .command('get')
    .description('list Services, Endpoints, Pods, EndpointSlices or Nodes as kubectl does (-o wide|json|yaml|name|jsonpath=…, -l, -w)')
    .argument('<resource>', 'services (svc) | endpoints (ep) | pods (po) | endpointslices | nodes (no)')
    .argument('[names...]', 'only these objects')
    .addOption(keelOption('-n, --namespace <ns>', 'namespace', 'default'))
    .addOption(keelOption('-A, --all-namespaces', 'every namespace'))
    .addOption(keelOption('-o, --output <format>', 'wide, json, yaml, name or jsonpath=TEMPLATE'))
    .addOption(keelOption('-l, --selector <selector>', 'label selector: a=b, a!=b, a in (x,y), a notin (x), a, !a'))
    .addOption(keelOption('--show-labels', 'add a LABELS column'))
    .addOption(keelOption('-w, --watch', 'after listing, print one line per change until interrupted'));
  addEtcdOptions(cmd).action(lazy(async () => (await import('../get.js')).runGet));
}
