/**
 * Linux's address families: the numbers socket(2), a sockaddr and an
 * rtnetlink message carry. nf_tables numbers its `ip` and `ip6` families
 * (NFPROTO_IPV4, NFPROTO_IPV6) the same way.
 */
export const AF_INET = 2;
export const AF_INET6 = 10;

/** nft's family names as an nf_tables netlink message numbers them. */
export const NF_FAMILY = { ip: AF_INET, ip6: AF_INET6 } as const;
export type NfFamily = keyof typeof NF_FAMILY;
