import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readEvents, type InputItem } from '../../../src/pipeline/triage/readEvents.js';

async function read(text: string): Promise<InputItem[]> {
  const items: InputItem[] = [];
  for await (const item of readEvents(Readable.from([text]))) items.push(item);
  return items;
}

describe('readEvents', () => {
  it('reads NDJSON with line numbers and keeps going after a bad line', async () => {
    const items = await read('{"a":1}\n\nnot json\n{"b":2}\r\n');
    expect(items).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 3, error: expect.stringMatching(/invalid JSON/) },
      { line: 4, value: { b: 2 } },
    ]);
  });

  it('reads one pretty-printed document', async () => {
    expect(await read('{\n  "a": 1,\n  "b": "x}"\n}\n')).toEqual([{ line: 1, value: { a: 1, b: 'x}' } }]);
  });

  it('reads concatenated pretty-printed documents', async () => {
    const items = await read('{\n "a": 1\n}\n{\n "b": "\\"{"\n}\n');
    expect(items).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 4, value: { b: '"{' } },
    ]);
  });

  it('expands a JSON array into its events', async () => {
    expect(await read('[{"a":1},{"b":2}]')).toEqual([
      { line: 1, value: { a: 1 } },
      { line: 1, value: { b: 2 } },
    ]);
  });

  it('reports a truncated document once', async () => {
    const items = await read('{\n "a": 1,\n');
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ line: 1, error: expect.stringMatching(/invalid JSON/) });
  });

  it('reads nothing from empty input', async () => {
    expect(await read('')).toEqual([]);
    expect(await read('\n\n  \n')).toEqual([]);
  });

  it('strips a byte order mark', async () => {
    expect(await read('\uFEFF{"a":1}\n')).toEqual([{ line: 1, value: { a: 1 } }]);
  });
});
