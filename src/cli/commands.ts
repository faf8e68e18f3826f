import type { Command } from 'commander';
import { registerAgent } from './agent.js';
import { registerApply } from './apply.js';
import { registerCleanup } from './cleanup.js';
import { registerDelete } from './delete.js';
import { registerDescribe } from './describe.js';
import { registerDns } from './dns.js';
import { registerDown } from './down.js';
import { registerEtcd } from './etcd.js';
import { registerExec } from './exec.js';
import { registerGet } from './get.js';
import { registerNetwork } from './network.js';
import { registerSandboxController } from './sandbox-controller.js';
import { registerRules } from './rules.js';
import { registerStatus } from './status.js';
import { registerTrace } from './trace.js';
import { registerUp } from './up.js';

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
