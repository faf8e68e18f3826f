import { execa } from 'execa';

/**
 * A node namespace as the agent suites make it: lo up, and eth0 holding the node's address as one end
 * of a veth whose peer (eth1) stays in the same namespace, so eth0 has a carrier without a second
 * namespace. With a gateway, a default route via it on eth0 (an address of eth0's /24 nobody holds).
 */
export async function addNodeNetns(ns: string, nodeIp: string, gateway?: string): Promise<void> {
  await execa('ip', ['netns', 'add', ns]);
  for (const cmd of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'],
    ['addr', 'add', `${nodeIp}/24`, 'dev', 'eth0'],
    ['link', 'set', 'eth0', 'up'],
    ['link', 'set', 'eth1', 'up'],
    ...(gateway ? [['route', 'add', 'default', 'via', gateway, 'dev', 'eth0']] : []),
  ])
    await execa('ip', ['-n', ns, ...cmd]);
}
