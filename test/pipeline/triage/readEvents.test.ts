import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readEvents, readInputs, type InputItem, type InputLine } from '../../../src/pipeline/triage/readEvents.js';

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

  it("expands GuardDuty's GetFindings output into its findings", async () => {
    expect(await read('{"Findings": [{"Id": "a"}, {"Id": "b"}]}')).toEqual([
      { line: 1, value: { Id: 'a' } },
      { line: 1, value: { Id: 'b' } },
    ]);
  });
});

describe('readInputs', () => {
  async function lines(text: string): Promise<InputLine[]> {
    const items: InputLine[] = [];
    for await (const item of readInputs(Readable.from([text]))) items.push(item);
    return items;
  }

  it("gives Falco's text lines as they are, among JSON lines; broken JSON is still an error", () => {
    return expect(lines('Fri Nov 20 03:10:01 2026: Falco version: 0.41.3\n03:14:07.1: Notice A shell x\n{"a":1}\n{"b":\n')).resolves.toEqual([
      { line: 1, text: 'Fri Nov 20 03:10:01 2026: Falco version: 0.41.3' },
      { line: 2, text: '03:14:07.1: Notice A shell x' },
      { line: 3, value: { a: 1 } },
      { line: 4, error: expect.stringMatching(/invalid JSON/) },
    ]);
  });
});
