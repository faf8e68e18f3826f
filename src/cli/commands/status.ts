import type { Command } from 'commander';
import { keelOption } from '../options.js';
import { addEndpointsSourceOption } from '../endpoints-source-flag.js';
import { addRunDirOption } from '../sandbox-flags.js';
import { lazy } from './lazy.js';

export const PICTURES = ['dot', 'svg'] as const;

export function registerStatus(program: Command): void {
  const cmd = program
    .command('status')
    .description(
      'show the sandbox: etcd members (health, leader, revision, DB size), nodes and agent health, overlay leases, services, pods',
    )
    .addOption(
      keelOption(
        '-o, --output <format>',
        `a picture instead of tables: ${PICTURES.join(' (Graphviz text) or ')} (drawn by Graphviz's dot)`,
      ),
    );
  addEndpointsSourceOption(addRunDirOption(cmd)).action(lazy(async () => (await import('../status.js')).runStatus));
}
