import type { Command } from 'commander';
import { DEFAULT_RUN_DIR } from '../sandbox/sandbox-state.js';
import { keelOption } from './options.js';

export interface RunDirFlags {
  runDir: string;
}

/** `--run-dir` (KEEL_RUN_DIR): where a sandbox keeps its state; /run is tmpfs, as the namespaces are gone after a reboot too. */
export function addRunDirOption(cmd: Command): Command {
  return cmd.addOption(keelOption('--run-dir <dir>', 'sandbox run directory', DEFAULT_RUN_DIR));
}
