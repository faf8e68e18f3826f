/**
 * A command's action that imports its implementation only when the command
 * runs: registering every command (for `keel --help` and the parser) then
 * loads commander and the flag helpers alone, not etcd3, netlink, koffi or
 * protobufjs, which cost about a second of CPU on every invocation.
 */
export function lazy<A extends unknown[]>(load: () => Promise<(...args: A) => Promise<void>>): (...args: A) => Promise<void> {
  return async (...args) => (await load())(...args);
}
