/**
 * The nesting check made on a body before it is parsed: it agrees with the depth of the parsed
 * value for any JSON, ignores brackets inside strings, and makes parseMessage refuse, with a
 * reason, a body nested deep enough to overflow the bot's recursive steps.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exceedsJsonDepth } from '../../src/handlers/exceedsJsonDepth.js';
import { MAX_JSON_DEPTH, parseMessage } from '../../src/handlers/messages.js';

/** The reference: nesting of objects and arrays in a parsed value, walked without recursion. */
function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    deepest = Math.max(deepest, d + 1);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return deepest;
}

const nested = (levels: number, inner = '1') => `${'{"a":'.repeat(levels)}${inner}${'}'.repeat(levels)}`;

describe('exceedsJsonDepth', () => {
  it('agrees with the depth of the parsed value for any JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.nat({ max: 10 }), fc.boolean(), (value, max, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined) ?? 'null';
        expect(exceedsJsonDepth(text, max)).toBe(depthOf(JSON.parse(text)) > max);
      }),
      { numRuns: 2000 },
    );
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(exceedsJsonDepth(JSON.stringify({ a: '[[[[{{{{', b: 'say \\"{[ and "[[[[' }), 1)).toBe(false);
    expect(exceedsJsonDepth('{"a":"\\\\"}', 1)).toBe(false);
    expect(exceedsJsonDepth('{"a":"\\\\",[[1]]}', 2)).toBe(true);
  });
});

describe('parseMessage on deeply nested bodies', () => {
  it(`refuses a body nested deeper than ${MAX_JSON_DEPTH} levels, with the reason`, () => {
    // 40,000 levels fit in SQS's 256 KiB. Such an event was triaged, then serializing it into its
    // playbook's start record overflowed the stack: retried until dead-lettered, its playbook never ran.
    const deep = `{"rule":"Terminal shell in container","priority":"Warning","output":"x","output_fields":{"x":${nested(40_000)}}}`;
    expect(deep.length).toBeLessThan(262_144);
    expect(() => JSON.stringify({ input: { event: JSON.parse(deep) as unknown } })).toThrow(RangeError);
    expect(parseMessage(deep)).toEqual({ ok: false, reason: `body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels` });
    expect(parseMessage(nested(MAX_JSON_DEPTH + 1))).toMatchObject({ ok: false });
  });

  it(`takes a body nested ${MAX_JSON_DEPTH} levels`, () => {
    expect(parseMessage(nested(MAX_JSON_DEPTH))).toMatchObject({ ok: true, parsed: { kind: 'event' } });
  });
});
