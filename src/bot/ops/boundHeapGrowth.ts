/**
 * How far V8 lets its old space grow past what a full collection found live. V8 picks a factor of
 * 1.1 to 4 by itself, and under a storm's allocation rate it picks a high one: the heap grew to
 * 137 MB for 80-100 MB live, and the RSS with it. A fixed, lower factor costs more full collections
 * under load and no memory, and it is not a cap: the heap still grows with what is live, so a
 * large live set never ends in an out-of-memory crash (as `--max-old-space-size` would).
 *
 * V8's `--heap-growing-percent` is not among the flags NODE_OPTIONS accepts, so it is set at run
 * time; V8 reads it at every full collection.
 */
import { setFlagsFromString } from 'node:v8';

/** Sets the growth past the live heap to `percent` (0: V8's own factor). */
export function boundHeapGrowth(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0) throw new RangeError(`heap growth must be a whole percentage, not ${percent}`);
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
