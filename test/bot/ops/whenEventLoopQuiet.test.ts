import { describe, expect, it } from 'vitest';
import { whenEventLoopQuiet } from '../../../src/bot/ops/whenEventLoopQuiet.js';

/** Keeps the event loop busy (synchronous work between short yields) until `ms` have passed. */
async function busyFor(ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const slice = Date.now() + 20;
    while (Date.now() < slice) Math.sqrt(Math.random());
    await new Promise((r) => setImmediate(r));
  }
}

describe('whenEventLoopQuiet', () => {
  it('answers true after an interval in which the process did next to nothing', async () => {
    expect(await whenEventLoopQuiet({ everyMs: 100, giveUpAfterMs: 5000 }).wait()).toBe(true);
  });

  it('waits while the event loop is busy, and gives up if it never quietens', async () => {
    const busy = busyFor(1000);
    expect(await whenEventLoopQuiet({ everyMs: 100, giveUpAfterMs: 500 }).wait()).toBe(false);
    await busy;
  });

  it('with no time to wait, the first interval decides: busy is false at once', async () => {
    const busy = busyFor(600);
    const t0 = Date.now();
    expect(await whenEventLoopQuiet({ everyMs: 100, giveUpAfterMs: 0 }).wait()).toBe(false);
    expect(Date.now() - t0).toBeLessThan(500);
    await busy;
  });

  it('answers true once a busy spell ends', async () => {
    const busy = busyFor(400);
    const t0 = Date.now();
    expect(await whenEventLoopQuiet({ everyMs: 100, giveUpAfterMs: 5000 }).wait()).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    await busy;
  });
});
