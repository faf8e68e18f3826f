import { describe, expect, it } from 'vitest';
import { GsoBatch } from './udp-gso-batch.js';

describe('GsoBatch', () => {
  const peerA = Buffer.from('a');
  const peerB = Buffer.from('b');
  const record = (): { sends: string[]; batch: GsoBatch } => {
    const sends: string[] = [];
    const batch = new GsoBatch((dst, buf, length, size, count) => {
      sends.push(`${dst.toString()} ${length}/${size}x${count} ${buf.subarray(0, length).toString()}`);
    });
    return { sends, batch };
  };
  const pkt = (c: string, n: number): Buffer => Buffer.alloc(n, c);

  it('sends equal-sized packets to one peer as one batch, closed by a shorter last one', () => {
    const { sends, batch } = record();
    batch.add(peerA, pkt('x', 3), 0, 3);
    batch.add(peerA, pkt('y', 3), 0, 3);
    batch.add(peerA, pkt('z', 2), 0, 2);
    batch.add(peerA, pkt('w', 3), 0, 3);
    batch.flush();
    expect(sends).toEqual(['a 8/3x3 xxxyyyzz', 'a 3/3x1 www']);
  });

  it('starts a new batch for another peer or a larger packet', () => {
    const { sends, batch } = record();
    batch.add(peerA, pkt('x', 2), 0, 2);
    batch.add(peerB, pkt('y', 2), 0, 2);
    batch.add(peerB, pkt('z', 3), 0, 3);
    batch.flush();
    batch.flush();
    expect(sends).toEqual(['a 2/2x1 xx', 'b 2/2x1 yy', 'b 3/3x1 zzz']);
  });

  it('holds at most 64 datagrams and 65,507 bytes per send', () => {
    const { sends, batch } = record();
    for (let i = 0; i < 65; i++) batch.add(peerA, pkt('s', 10), 0, 10);
    for (let i = 0; i < 45; i++) batch.add(peerB, pkt('m', 1472), 0, 1472);
    batch.flush();
    expect(sends.map((s) => s.split(' ').slice(0, 2).join(' '))).toEqual(['a 640/10x64', 'a 10/10x1', 'b 64768/1472x44', 'b 1472/1472x1']);
  });
});
