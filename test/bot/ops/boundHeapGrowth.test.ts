import { describe, expect, it } from 'vitest';
import { boundHeapGrowth } from '../../../src/bot/ops/boundHeapGrowth.js';

describe('boundHeapGrowth', () => {
  it('refuses a growth that is not a whole, non-negative percentage', () => {
    expect(() => boundHeapGrowth(-1)).toThrow(RangeError);
    expect(() => boundHeapGrowth(12.5)).toThrow(RangeError);
    expect(() => boundHeapGrowth(Number.NaN)).toThrow(RangeError);
  });

  it('takes a whole percentage, and 0 (V8 chooses again)', () => {
    expect(() => boundHeapGrowth(50)).not.toThrow();
    expect(() => boundHeapGrowth(0)).not.toThrow();
  });
});
