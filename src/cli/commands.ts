import type { Command } from 'commander';
import { registerAgent } from './commands/agent.js';
import { registerApply } from './commands/apply.js';
import { registerCleanup } from './commands/cleanup.js';
import { registerDelete } from './commands/delete.js';
import { registerDescribe } from './commands/describe.js';
import { registerDns } from './commands/dns.js';
import { registerDown } from './commands/down.js';
import { registerEtcd } from './commands/etcd.js';
import { registerExec } from './commands/exec.js';
import { registerGet } from './commands/get.js';
import { registerNetwork } from './commands/network.js';
import { registerSandboxController } from './commands/sandbox-controller.js';
import { registerRules } from './commands/rules.js';
import { registerStatus } from './commands/status.js';
import { registerTrace } from './commands/trace.js';
import { registerUp } from './commands/up.js';

/** Every subcommand, in the order `keel --help` lists them. */
export const commands: ReadonlyArray<(program: Command) => void> = [
  registerApply,
  registerGet,
  registerDelete,
  registerDescribe,
  registerNetwork,
  registerRules,
  registerTrace,
  registerCleanup,
  registerAgent,
  registerDns,
  registerUp,
  registerDown,
  registerStatus,
  registerEtcd,
  registerExec,
  registerSandboxController,
];
