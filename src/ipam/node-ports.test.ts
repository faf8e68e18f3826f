import { describe, expect, it } from 'vitest';
import { chooseNodePort, DEFAULT_NODE_PORT_RANGE, inPortRange, parsePortRange } from './node-ports.js';
import { firstFree } from './service-ips.js';

describe('parsePortRange', () => {
  it("reads kube-apiserver's default and any range within 1-65535, edges included", () => {
    expect(DEFAULT_NODE_PORT_RANGE).toBe('30000-32767');
    expect(parsePortRange(DEFAULT_NODE_PORT_RANGE)).toEqual({ min: 30000, max: 32767 });
    expect(parsePortRange(' 1-65535 ')).toEqual({ min: 1, max: 65535 });
    expect(parsePortRange('7-7')).toEqual({ min: 7, max: 7 });
  });

  it.each(['0-10', '1-65536', '20-10', '30000', '30000-', 'a-b', '30000-32767x', 'x30000-32767', '123456-1'])(
    'refuses %j with the flag named',
    (text) => {
      expect(() => parsePortRange(text, '--flag')).toThrow(`--flag: ${JSON.stringify(text)} is not a port range like 30000-32767`);
    },
  );
});

describe('node ports', () => {
  it("knows the range's edges", () => {
    const r = { min: 30000, max: 30002 };
    expect([29999, 30000, 30002, 30003].map((p) => inPortRange(r, p))).toEqual([false, true, true, false]);
  });

  it('tries every port once from the picked start, wrapping around, and reports a full range', () => {
    const r = { min: 30000, max: 30003 };
    expect(chooseNodePort(r, new Set([30002, 30003]), () => 2n)).toBe(30000);
    expect(chooseNodePort(r, new Set([30000, 30001, 30002]), firstFree)).toBe(30003);
    expect(chooseNodePort(r, new Set([30000, 30001, 30002, 30003]), firstFree)).toBeUndefined();
  });
});
