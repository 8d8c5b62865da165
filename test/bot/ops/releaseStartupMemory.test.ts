import { describe, expect, it } from 'vitest';
import { releaseStartupMemory } from '../../../src/bot/ops/releaseStartupMemory.js';

describe('releaseStartupMemory', () => {
  it("gives back the heap that start-up's garbage grew: V8's committed heap shrinks", () => {
    // Start-up's pattern: a large structure built, kept until it is indexed, then dropped.
    let garbage: { n: number; s: string }[][] | undefined = Array.from({ length: 300 }, (_, i) => Array.from({ length: 1000 }, (_, j) => ({ n: i * j, s: `entry ${i}/${j}` })));
    const grown = process.memoryUsage().heapTotal;
    expect(garbage.length).toBe(300);
    garbage = undefined;
    const released = releaseStartupMemory();
    expect(released).toBeDefined();
    expect(released!.heapAfter).toBeLessThan(grown - 20 * 1024 * 1024);
    expect(released!.heapAfter).toBeLessThan(released!.heapBefore);
  });
});
