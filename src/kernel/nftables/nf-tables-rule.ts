import { NF_FAMILY, type NfFamily } from '../address-family.js';
import { cstr, nested, attr } from '../netlink/netlink-attrs.js';

/**
 * A rule's expressions in nf_tables netlink attributes, for the one rule
 * shape keel rewrites without nft: a service chain's endpoint pick,
 * `meta l4proto P dnat F to numgen random mod N map @M`. Its modulus
 * changes when the endpoint count crosses a power of two. The bytes are
 * those nft 1.0.6 sends for the same text (nf-tables-rule.test.ts holds
 * them, captured with strace), except the lookup's NFTA_LOOKUP_SET_ID:
 * nft numbers the sets a batch names, and the kernel needs the id only
 * for a set created in the same batch; keel's map already exists, so
 * the name finds it. Constants from linux/netfilter/nf_tables.h.
 */
const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const NFTA_META_DREG = 1;
const NFTA_META_KEY = 2;
const NFT_META_L4PROTO = 16;
const NFTA_CMP_SREG = 1;
const NFTA_CMP_OP = 2;
const NFTA_CMP_DATA = 3;
const NFT_CMP_EQ = 0;
const NFTA_DATA_VALUE = 1;
const NFTA_NG_DREG = 1;
const NFTA_NG_MODULUS = 2;
const NFTA_NG_TYPE = 3;
const NFTA_NG_OFFSET = 4;
const NFT_NG_RANDOM = 1;
const NFTA_LOOKUP_SET = 1;
const NFTA_LOOKUP_SREG = 2;
const NFTA_LOOKUP_DREG = 3;
const NFTA_NAT_TYPE = 1;
const NFTA_NAT_FAMILY = 2;
const NFTA_NAT_REG_ADDR_MIN = 3;
const NFTA_NAT_REG_PROTO_MIN = 5;
const NFT_NAT_DNAT = 1;
/** NFT_REG_1: the 16-byte register nft uses for all of this rule; the port follows the address in it (NFT_REG32_01 after 4 bytes, NFT_REG_2 after 16). */
const NFT_REG_1 = 1;
const PORT_REG = { ip: 9, ip6: 2 } as const;
const L4PROTO: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

const PICK = /^meta l4proto (tcp|udp|sctp) dnat (ip|ip6) to numgen random mod (\d+) map @(\S+)$/;

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
};

const expr = (name: string, ...data: Buffer[]): Buffer =>
  nested(NFTA_LIST_ELEM, attr(NFTA_EXPR_NAME, cstr(name)), nested(NFTA_EXPR_DATA, ...data));

/** The payload of NFTA_RULE_EXPRESSIONS for a rule of the pick shape; undefined for any other rule (those go through nft -f). */
export function ruleExpressions(rule: string): Buffer | undefined {
  const m = PICK.exec(rule);
  if (!m) return undefined;
  const [, proto = '', family = '', modulus = '', map = ''] = m;
  const fam = family as NfFamily;
  const mod = Number(modulus);
  if (!Number.isSafeInteger(mod) || mod < 1 || mod > 0xffff_ffff) return undefined;
  return Buffer.concat([
    expr('meta', attr(NFTA_META_KEY, u32(NFT_META_L4PROTO)), attr(NFTA_META_DREG, u32(NFT_REG_1))),
    expr(
      'cmp',
      attr(NFTA_CMP_SREG, u32(NFT_REG_1)),
      attr(NFTA_CMP_OP, u32(NFT_CMP_EQ)),
      nested(NFTA_CMP_DATA, attr(NFTA_DATA_VALUE, Buffer.from([L4PROTO[proto] ?? 0]))),
    ),
    expr(
      'numgen',
      attr(NFTA_NG_DREG, u32(NFT_REG_1)),
      attr(NFTA_NG_MODULUS, u32(mod)),
      attr(NFTA_NG_TYPE, u32(NFT_NG_RANDOM)),
      attr(NFTA_NG_OFFSET, u32(0)),
    ),
    expr('lookup', attr(NFTA_LOOKUP_SREG, u32(NFT_REG_1)), attr(NFTA_LOOKUP_DREG, u32(NFT_REG_1)), attr(NFTA_LOOKUP_SET, cstr(map))),
    expr(
      'nat',
      attr(NFTA_NAT_TYPE, u32(NFT_NAT_DNAT)),
      attr(NFTA_NAT_FAMILY, u32(NF_FAMILY[fam])),
      attr(NFTA_NAT_REG_ADDR_MIN, u32(NFT_REG_1)),
      attr(NFTA_NAT_REG_PROTO_MIN, u32(PORT_REG[fam])),
    ),
  ]);
}
