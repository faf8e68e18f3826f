import { describe, expect, it } from 'vitest';
import { parseIp, type IpAddress } from '../../api/ip.js';
import { encodeVxlanLinkinfo, parseVxlanInfo } from './netlink-attrs.js';

describe('vxlan linkinfo', () => {
  it('encodes the attributes the kernel reads and parses them back', () => {
    const buf = encodeVxlanLinkinfo({ vni: 7, local: parseIp('172.30.1.11') as IpAddress, port: 8472 }, 3);
    expect(buf.subarray(4, 9).toString()).toBe('vxlan');
    const back = parseVxlanInfo(buf);
    expect([back?.vni, back?.local?.text, back?.port]).toEqual([7, '172.30.1.11', 8472]);
    expect(parseVxlanInfo(Buffer.concat([Buffer.from([10, 0, 1, 0]), Buffer.from('veth\0\0\0\0')]))).toBeUndefined();
  });
});
