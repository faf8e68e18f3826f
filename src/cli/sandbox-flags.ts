import type { Command } from 'commander';
import { DEFAULT_RUN_DIR } from '../sandbox/sandbox-state.js';
import { keelOption } from './options.js';

export interface RunDirFlags {
  runDir: string;
}

export interface ProgramPathFlags {
  programPath: string;
}

/** `--program-path` (KEEL_PROGRAM_PATH): where pods find Debian's programs for their images; a user's own build can come first. */
export function addProgramPathOption(cmd: Command): Command {
  return cmd.addOption(
    keelOption(
      '--program-path <dirs>',
      "where pods find Debian's programs for images (nginx, redis-server), PATH-style; an image whose program is not there runs keel's stand-in",
      process.env.PATH ?? '/usr/sbin:/usr/bin',
      '$PATH',
    ),
  );
}

/** `--run-dir` (KEEL_RUN_DIR): where a sandbox keeps its state; /run is tmpfs, as the namespaces are gone after a reboot too. */
export function addRunDirOption(cmd: Command): Command {
  return cmd.addOption(keelOption('--run-dir <dir>', 'sandbox run directory', DEFAULT_RUN_DIR));
}
