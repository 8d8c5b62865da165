import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { isGetFindingsOutput } from './isGetFindingsOutput.js';

/** One input item: a parsed JSON value, or why its line could not be read. */
export type InputItem = { line: number; value: unknown } | { line: number; error: string };

/** An input item, or a line that is not JSON (Falco's text output), as it is. */
export type InputLine = InputItem | { line: number; text: string };

function parseJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: `invalid JSON: ${(err as Error).message}` };
  }
}

function* expand(line: number, value: unknown): Generator<InputItem> {
  // A JSON array holds several events, and so does GuardDuty's GetFindings output ({"Findings": [...]}).
  if (Array.isArray(value)) for (const v of value) yield { line, value: v };
  else if (isGetFindingsOutput(value)) for (const v of value.Findings) yield { line, value: v };
  else yield { line, value };
}

/**
 * Reads events from a stream that holds NDJSON (one event a line, streamed as
 * it arrives) or one JSON document (possibly spread over many lines, or an
 * array). Yields items in input order; a bad line yields an error item and
 * the rest goes on.
 */
export async function* readEvents(input: Readable, maxLineBytes = DEFAULT_MAX_LINE): AsyncGenerator<InputItem> {
  yield* read(input, maxLineBytes, false) as AsyncGenerator<InputItem>;
}

/**
 * As readEvents, and a line that is not JSON (does not open with `{` or `[`) comes as it is, for
 * Falco's text output (`kubectl logs ds/falco`, `<time>: <Priority> <output>`) mixed with JSON.
 */
export async function* readInputs(input: Readable, maxLineBytes = DEFAULT_MAX_LINE): AsyncGenerator<InputLine> {
  yield* read(input, maxLineBytes, true);
}

const DEFAULT_MAX_LINE = 16 * 1024 * 1024;

async function* read(input: Readable, maxLineBytes: number, textLines: boolean): AsyncGenerator<InputLine> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let mode: 'unknown' | 'ndjson' | 'document' = 'unknown';
  const buffered: string[] = [];
  let docStart = 0;
  for await (const raw of rl) {
    lineNo++;
    const line = raw.replace(/^\uFEFF/, '');
    if (mode === 'document') {
      buffered.push(line);
      continue;
    }
    if (line.trim() === '') continue;
    if (line.length > maxLineBytes) {
      yield { line: lineNo, error: `line is longer than ${maxLineBytes} characters` };
      continue;
    }
    const parsed = parseJson(line);
    if (mode === 'unknown') {
      if (parsed.ok) mode = 'ndjson';
      else if (/^\s*[[{]/.test(line)) {
        // Not a whole value on its own line: a JSON document over several lines.
        mode = 'document';
        docStart = lineNo;
        buffered.push(line);
        continue;
      } else mode = 'ndjson';
    }
    if (parsed.ok) yield* expand(lineNo, parsed.value);
    else if (textLines && !/^\s*[[{]/.test(line)) yield { line: lineNo, text: line };
    else yield { line: lineNo, error: parsed.error };
  }
  if (mode === 'document') {
    for (const doc of splitDocuments(buffered.join('\n'))) {
      const parsed = parseJson(doc.text);
      if (parsed.ok) yield* expand(docStart + doc.line - 1, parsed.value);
      else yield { line: docStart + doc.line - 1, error: parsed.error };
    }
  }
}

/**
 * Splits concatenated JSON documents (`cat a.json b.json`) by bracket depth,
 * outside strings. Text that never closes is returned as one piece so that
 * JSON.parse reports it.
 */
export function splitDocuments(text: string): { line: number; text: string }[] {
  const docs: { line: number; text: string }[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  let line = 1;
  let startLine = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (start === -1) {
      if (/\s/.test(c)) continue;
      start = i;
      startLine = line;
      if (c !== '{' && c !== '[') {
        // Not an object or array: hand the rest to JSON.parse to describe.
        docs.push({ line: startLine, text: text.slice(start) });
        return docs;
      }
    }
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) {
        docs.push({ line: startLine, text: text.slice(start, i + 1) });
        start = -1;
      }
    }
  }
  if (start !== -1) docs.push({ line: startLine, text: text.slice(start) });
  return docs;
}
