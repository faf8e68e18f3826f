import { describe, expect, it } from 'vitest';
import { FakeClock } from '../runtime/testing/fake-clock.js';
import { RoundRobin } from './round-robin.js';

describe('RoundRobin', () => {
  it('alternates exactly over the endpoints, whatever the client', () => {
    const rr = new RoundRobin(new FakeClock());
    rr.update('default/web:', ['10.244.1.12:80', '10.244.1.11:80'], undefined);
    const picks = ['a', 'b', 'a', 'c', 'a', 'b'].map((c) => rr.next('default/web:', c));
    expect(picks).toEqual(['10.244.1.11:80', '10.244.1.12:80', '10.244.1.11:80', '10.244.1.12:80', '10.244.1.11:80', '10.244.1.12:80']);
  });

  it('answers nothing for an unknown port or one without endpoints', () => {
    const rr = new RoundRobin(new FakeClock());
    rr.update('default/web:', [], undefined);
    expect(rr.next('default/web:', 'a')).toBeUndefined();
    expect(rr.next('default/other:', 'a')).toBeUndefined();
  });

  it('pins a client while it returns within the timeout, then lets it move', async () => {
    const clock = new FakeClock();
    const rr = new RoundRobin(clock);
    rr.update('ns/s:', ['e1:1', 'e2:1'], 10);
    expect(rr.next('ns/s:', 'c1')).toBe('e1:1');
    expect(rr.next('ns/s:', 'c2')).toBe('e2:1');
    await clock.advance(9_999);
    expect(rr.next('ns/s:', 'c1')).toBe('e1:1');
    await clock.advance(9_999); // sliding: measured from the last use
    expect(rr.next('ns/s:', 'c1')).toBe('e1:1');
    await clock.advance(10_000);
    expect(rr.next('ns/s:', 'c1')).toBe('e1:1'); // expired: round-robin continues where it was (index 1 → e1 after wrap)
    expect(rr.next('ns/s:', 'c3')).toBe('e2:1');
  });

  it("asks for the client's address only when the port has affinity", () => {
    const rr = new RoundRobin(new FakeClock());
    const asked: string[] = [];
    const client = (ip: string) => (): string => {
      asked.push(ip);
      return ip;
    };
    rr.update('ns/s:', ['e1:1', 'e2:1'], undefined);
    expect([rr.next('ns/s:', client('c1')), rr.next('ns/s:', client('c1'))]).toEqual(['e1:1', 'e2:1']);
    expect(asked).toEqual([]);
    rr.update('ns/s:', ['e1:1', 'e2:1'], 100);
    expect([rr.next('ns/s:', client('c1')), rr.next('ns/s:', client('c1'))]).toEqual(['e1:1', 'e1:1']);
    expect(asked).toEqual(['c1', 'c1']);
  });

  it('a retry after a failed dial replaces the affinity', () => {
    const rr = new RoundRobin(new FakeClock());
    rr.update('ns/s:', ['e1:1', 'e2:1'], 100);
    expect(rr.next('ns/s:', 'c1')).toBe('e1:1');
    expect(rr.next('ns/s:', 'c1', true)).toBe('e2:1');
    expect(rr.next('ns/s:', 'c1')).toBe('e2:1');
  });

  it('keeps position and affinities across updates, forgetting only endpoints that left', () => {
    const clock = new FakeClock();
    const rr = new RoundRobin(clock);
    rr.update('ns/s:', ['e1:1', 'e2:1', 'e3:1'], 100);
    expect(rr.next('ns/s:', 'c1')).toBe('e1:1');
    expect(rr.next('ns/s:', 'c2')).toBe('e2:1');
    rr.update('ns/s:', ['e2:1', 'e3:1'], 100);
    expect(rr.affinityCount('ns/s:')).toBe(1);
    expect(rr.next('ns/s:', 'c2')).toBe('e2:1');
    expect(rr.next('ns/s:', 'c1')).toBe('e2:1'); // position 2 wraps to 0 in the shorter list
    rr.update('ns/s:', ['e2:1', 'e3:1'], undefined);
    expect(rr.affinityCount('ns/s:')).toBe(0);
  });

  it('purges expired affinities', async () => {
    const clock = new FakeClock();
    const rr = new RoundRobin(clock);
    rr.update('ns/s:', ['e1:1'], 1);
    rr.next('ns/s:', 'c1');
    await clock.advance(500);
    rr.next('ns/s:', 'c2');
    await clock.advance(600);
    rr.purgeExpired();
    expect(rr.affinityCount('ns/s:')).toBe(1);
  });
});
