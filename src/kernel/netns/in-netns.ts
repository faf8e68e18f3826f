import { closeSync, openSync } from 'node:fs';
import { KeelError } from '../../api/errors.js';
import { loadLibc } from '../tun/libc.js';

const CLONE_NEWNET = 0x40000000;

/**
 * Runs `fn` with the calling thread in the named network namespace
 * (/run/netns/NAME, as `ip netns` makes it), then moves it back. A socket
 * opened inside stays in that namespace, so one process can program a
 * namespace's kernel objects without `ip netns exec`. `fn` must be
 * synchronous: JavaScript runs on this thread, nothing else may run
 * while it is elsewhere.
 */
export function inNetns<T>(name: string, fn: () => T): T {
  const libc = loadLibc();
  const target = openSync(`/run/netns/${name}`, 'r');
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    if ((libc.setns(target, CLONE_NEWNET) as number) !== 0)
      throw new KeelError('KEEL_NETLINK_FAILED', `setns: errno ${libc.errno()}`, { subject: `netns ${name}` });
    try {
      return fn();
    } finally {
      if ((libc.setns(home, CLONE_NEWNET) as number) !== 0)
        throw new KeelError('KEEL_NETLINK_FAILED', `setns back: errno ${libc.errno()}`, { subject: `netns ${name}` });
    }
  } finally {
    closeSync(target);
    closeSync(home);
  }
}
