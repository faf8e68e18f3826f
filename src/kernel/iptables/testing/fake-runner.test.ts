import { describe, expect, it } from 'vitest';
import { isKeelError } from '../../../api/errors.js';
import { FakeRunner } from './fake-runner.js';
import { RestoreError, failingLine } from '../restore-error.js';
import { REFUSED_RESTORES } from './refused-restores.js';

describe('FakeRunner', () => {
  it('keeps chains across --noflush restores and dumps like iptables-save', async () => {
    const fake = new FakeRunner();
    await fake.restore('*nat\n:KUBE-B - [0:0]\n:KUBE-A - [0:0]\n-A OUTPUT -j KUBE-A\n-A KUBE-A -j KUBE-B\nCOMMIT\n');
    await fake.restore('*nat\n:KUBE-C - [0:0]\nCOMMIT\n');
    expect(await fake.save('nat')).toBe(
      [
        '*nat',
        ':PREROUTING ACCEPT [0:0]',
        ':INPUT ACCEPT [0:0]',
        ':OUTPUT ACCEPT [0:0]',
        ':POSTROUTING ACCEPT [0:0]',
        ':KUBE-A - [0:0]',
        ':KUBE-B - [0:0]',
        ':KUBE-C - [0:0]',
        '-A OUTPUT -j KUBE-A',
        '-A KUBE-A -j KUBE-B',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('rejects a jump to a missing chain with the failing line, and keeps the previous state', async () => {
    const fake = new FakeRunner();
    const input = '*nat\n:KUBE-A - [0:0]\n-A KUBE-A -j ACCEPT\n-A KUBE-A -j KUBE-NOPE\nCOMMIT\n';
    const err = await fake.restore(input).catch((e: unknown) => e);
    expect(isKeelError(err, 'KEEL_RESTORE_FAILED')).toBe(true);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).line).toBe(4);
    expect((err as RestoreError).context).toEqual([
      '2: :KUBE-A - [0:0]',
      '3: -A KUBE-A -j ACCEPT',
      '4: -A KUBE-A -j KUBE-NOPE',
      '5: COMMIT',
      '6: ',
    ]);
    expect(fake.chainNames('nat')).not.toContain('KUBE-A');
  });
});

describe('FakeRunner refuses what the kernel refuses (the same inputs run against real iptables-restore in test/e2e/proxy-iptables-runner.test.ts)', () => {
  it.each(REFUSED_RESTORES)('$name (line $line)', async ({ text, line }) => {
    const fake = new FakeRunner();
    const err = await fake.restore(text).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).line).toBe(line);
    expect(fake.restores).toEqual([]);
  });

  it('accepts the same rules written correctly: a probability in [0,1], a declared target, DNAT from OUTPUT, --dport after -p', async () => {
    const fake = new FakeRunner();
    await fake.restore(
      [
        '*nat',
        ':KUBE-OK - [0:0]',
        ':KUBE-OK-SEP - [0:0]',
        '-A OUTPUT -j KUBE-OK',
        '-A KUBE-OK -p tcp -m tcp --dport 80 -m statistic --mode random --probability 0.33333333349 -j KUBE-OK-SEP',
        '-A KUBE-OK -m recent --name KUBE-OK --rcheck --seconds 10800 --reap -j KUBE-OK-SEP',
        '-A KUBE-OK-SEP -p tcp -j DNAT --to-destination 10.244.1.5:8080',
        '-I KUBE-OK 1 -j RETURN',
        'COMMIT',
        '',
      ].join('\n'),
    );
    expect(fake.restores).toHaveLength(1);
  });
});

describe('failingLine', () => {
  it('reads both iptables-restore error forms', () => {
    expect(failingLine('iptables-restore: line 4 failed: No chain/target/match by that name.')).toBe(4);
    expect(failingLine("iptables-restore v1.8.9 (nf_tables): Chain 'NOPE' does not exist\nError occurred at line: 5\n")).toBe(5);
    expect(failingLine('something else')).toBeUndefined();
  });
});
