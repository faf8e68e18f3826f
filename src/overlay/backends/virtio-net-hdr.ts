/**
 * struct virtio_net_hdr, which a TUN opened with IFF_VNET_HDR puts before
 * every packet in both directions (10 bytes, little-endian on the hosts keel
 * runs on): whether the L4 checksum is still to be completed (a partial sum
 * over the pseudo-header sits in the checksum field), and for a GSO
 * super-packet the segment type and size.
 */
export const VNET_HDR_LEN = 10;
export const VNET_F_NEEDS_CSUM = 1;
export const GSO_NONE = 0;
export const GSO_TCPV4 = 1;
export const GSO_UDP_L4 = 5;

export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function readVnetHdr(b: Buffer, at: number): VnetHdr {
  return {
    flags: b[at] as number,
    gsoType: b[at + 1] as number,
    hdrLen: b.readUInt16LE(at + 2),
    gsoSize: b.readUInt16LE(at + 4),
    csumStart: b.readUInt16LE(at + 6),
    csumOffset: b.readUInt16LE(at + 8),
  };
}

export function writeVnetHdr(b: Buffer, at: number, h: VnetHdr): void {
  b[at] = h.flags;
  b[at + 1] = h.gsoType;
  b.writeUInt16LE(h.hdrLen, at + 2);
  b.writeUInt16LE(h.gsoSize, at + 4);
  b.writeUInt16LE(h.csumStart, at + 6);
  b.writeUInt16LE(h.csumOffset, at + 8);
}
