import { afterAll, beforeAll } from 'vitest';
import type { OverlayLab } from './overlay-lab.js';

/**
 * The overlay suites' lifecycle: brings `lab` up before the suite's tests and runs `setup` (network
 * init, agents, pods, servers); a failure there takes the lab down at once, before the error fails
 * the suite; after the tests the lab comes down (namespaces, processes, run directory).
 */
export function useOverlayLab(lab: OverlayLab, setup: () => Promise<void>): void {
  beforeAll(async () => {
    try {
      await lab.up();
      await setup();
    } catch (err) {
      await lab.down();
      throw err;
    }
  }, 240_000);

  afterAll(async () => {
    await lab.down();
  }, 60_000);
}
