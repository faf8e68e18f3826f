import { execa } from 'execa';
import { UsageError } from '../api/errors.js';
import { KEEL_BIN } from '../sandbox/agents.js';
import { readPodRecord } from '../sandbox/pod-records.js';
import { findNode, readState } from '../sandbox/sandbox-state.js';
import type { RunDirFlags } from './sandbox-flags.js';

interface ExecFlags extends RunDirFlags {
  namespace: string;
  node?: string;
}

export async function runExec(pod: string | undefined, command: string[], flags: ExecFlags): Promise<void> {
  const state = readState(flags.runDir);
  if (!state) throw new UsageError(`no sandbox in ${flags.runDir} (start one with \`keel up\`)`);
  let netns: string;
  let argv: string[];
  let env: Record<string, string> = {};
  if (flags.node) {
    const node = findNode(state, flags.node);
    if (!node)
      throw new UsageError(`--node: no node ${JSON.stringify(flags.node)} (nodes: ${state.nodes.map((n) => n.name).join(', ')}, client)`);
    netns = node.netns;
    // With --node there is no pod operand: the first word is the command.
    argv = pod === undefined ? command : [pod, ...command];
  } else {
    if (!pod) throw new UsageError('exec: give a pod name, or --node NODE');
    const rec = readPodRecord(state.runDir, flags.namespace, pod);
    if (!rec) throw new UsageError(`pod ${flags.namespace}/${pod} is not running in this sandbox`);
    netns = rec.netns;
    env = rec.env ?? {};
    argv = command;
  }
  if (argv.length === 0) throw new UsageError('exec: give the command after --');
  // `keel` inside a namespace is this keel.
  const full = argv[0] === 'keel' ? [process.execPath, KEEL_BIN, ...argv.slice(1)] : argv;
  const res = await execa('ip', ['netns', 'exec', netns, ...full], { stdio: 'inherit', reject: false, env });
  process.exitCode = res.exitCode ?? 1;
}
