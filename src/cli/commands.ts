import type { Command } from 'commander';
import { registerAgent } from './agent.js';
import { registerApply } from './apply.js';
import { registerDelete } from './delete.js';
import { registerGet } from './get.js';
import { registerNetwork } from './network.js';

/** Every subcommand, in the order `keel --help` lists them. */
export const commands: ReadonlyArray<(program: Command) => void> = [
  registerApply,
  registerGet,
  registerDelete,
  registerNetwork,
  registerAgent,
];
