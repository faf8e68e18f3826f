import { describe, expect, it } from 'vitest';
import { ruleExpressions } from './nf-tables-rule.js';

/**
 * NFTA_RULE_EXPRESSIONS as nft 1.0.6 sent them for the same rule text
 * (`strace -e sendmsg -xx nft add rule …` in a scratch namespace): meta
 * l4proto, cmp, numgen, lookup, nat.
 */
const NFT_IP_TCP_MOD4 =
  '24000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d7000' +
  '20000280080001000000000108000200000000000c0003800500010006000000340001800b0001006e756d67656e0000' +
  '240002800800010000000001080002000000000408000300000000010800040000000000440001800b0001006c6f6f6b' +
  '75700000340002800800020000000001080003000000000118000100736572766963652d656e64706f696e74732d7800' +
  '080004000000000130000180080001006e617400240002800800010000000001080002000000000208000300000000010800050000000009';
const NFT_IP6_UDP_MOD8 =
  '24000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d7000' +
  '20000280080001000000000108000200000000000c0003800500010011000000340001800b0001006e756d67656e0000' +
  '240002800800010000000001080002000000000808000300000000010800040000000000440001800b0001006c6f6f6b' +
  '75700000340002800800020000000001080003000000000118000100736572766963652d656e64706f696e74732d7900' +
  '080004000000000230000180080001006e617400240002800800010000000001080002000000000a08000300000000010800050000000002';

/** nft's bytes without the lookup's NFTA_LOOKUP_SET_ID (8 bytes), which keel leaves out: the lookup expression and its data shrink by 8. */
function withoutSetId(hex: string, id: number): string {
  const setId = `08000400${id.toString(16).padStart(8, '0')}`;
  expect(hex).toContain(`44000180${'0b0001006c6f6f6b75700000'}34000280`);
  return hex.replace('440001800b0001006c6f6f6b7570000034000280', '3c0001800b0001006c6f6f6b757000002c000280').replace(setId, '');
}

describe('ruleExpressions', () => {
  it('encodes the IPv4 endpoint pick as nft does: the port in NFT_REG32_01 after the 4-byte address', () => {
    const ours = ruleExpressions('meta l4proto tcp dnat ip to numgen random mod 4 map @service-endpoints-x');
    expect(ours?.toString('hex')).toBe(withoutSetId(NFT_IP_TCP_MOD4, 1));
  });

  it('encodes the IPv6 endpoint pick as nft does: udp, ip6 family, the port in NFT_REG_2 after the 16-byte address', () => {
    const ours = ruleExpressions('meta l4proto udp dnat ip6 to numgen random mod 8 map @service-endpoints-y');
    expect(ours?.toString('hex')).toBe(withoutSetId(NFT_IP6_UDP_MOD8, 2));
  });

  it.each([
    ['a rule with a jump', 'ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade'],
    ['an affinity pick (a vmap of gotos)', 'numgen random mod 2 vmap { 0 : goto a, 1 : goto b }'],
    ['a zero modulus', 'meta l4proto tcp dnat ip to numgen random mod 0 map @m'],
    ['an unknown protocol', 'meta l4proto icmp dnat ip to numgen random mod 2 map @m'],
  ])('leaves %s to nft -f', (_, rule) => {
    expect(ruleExpressions(rule)).toBeUndefined();
  });
});
