import { NftCommand } from '../kernel/nftables/nft-runner.js';
import { TABLE } from '../proxy-nftables/nft-names.js';
import { RestoreRunner } from '../kernel/iptables/restore-runner.js';
import { kernelViewOf, planCleanup } from '../proxy-iptables/sync-plan.js';
import { renderPortalCleanup } from '../proxy-userspace/portal-rules.js';
import { backendOf } from './rules.js';

export async function runCleanup(flags: { iptablesBackend: string }): Promise<void> {
  const runner = new RestoreRunner({ backend: backendOf(flags) });
  const view = kernelViewOf({ nat: await runner.save('nat'), filter: await runner.save('filter') });
  const text = planCleanup(view);
  if (text) await runner.restore(text, { noflush: true });
  const portals = renderPortalCleanup(await runner.save('nat'));
  if (portals) await runner.restore(portals, { noflush: true });
  // Created first, so deleting never fails on a node that never ran the nftables mode.
  await new NftCommand().run(`add table ip ${TABLE}\ndelete table ip ${TABLE}\nadd table ip6 ${TABLE}\ndelete table ip6 ${TABLE}\n`);
}
