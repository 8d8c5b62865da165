import { canonicalFieldName, fieldTypeOf, isTokenType, isValidFieldValue } from './fieldTypes.js';
import type { OutputTemplate } from './outputTemplate.js';

export interface ParsedFields {
  /** Canonical field name to value, only for fields that have exactly one reading. */
  fields: Record<string, string>;
  /** Fields with more than one possible reading (text crafted to look like fields). */
  ambiguous: string[];
  /**
   * The readings of each ambiguous field, in text order: at most MAX_READINGS + 1 of them (one
   * more than are ever used, so a caller can tell that there were more).
   */
  readings: Record<string, string[]>;
  /** Fields present but with a value of the wrong shape. */
  invalid: string[];
}

/** How many readings of an ambiguous field are kept (see ParsedFields.readings). */
export const MAX_READINGS = 16;

function occurrences(s: string, literal: string, end: number): number[] {
  const out: number[] = [];
  if (!literal) return out;
  for (let i = s.indexOf(literal); i !== -1 && i + literal.length <= end; i = s.indexOf(literal, i + 1)) out.push(i);
  return out;
}

function isSpace(c: number): boolean {
  return (
    c === 32 || (c >= 9 && c <= 13) || c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

function firstWhitespace(s: string, from: number, end: number): number {
  for (let i = from; i < end; i++) if (isSpace(s.charCodeAt(i))) return i;
  return end;
}

/** Lower bound: first index in sorted `arr` with arr[i] >= x. */
function lowerBound(arr: number[], x: number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Reads `text` by a rule's output template. Every reading of the whole text
 * that fits the template and the field types is considered: a field is kept
 * only when all readings agree on it, so text crafted inside a free-form field
 * (a command line, a file name) cannot pose as another field. Returns null
 * when the text does not fit the template at all.
 */
export function parseWithTemplate(text: string, template: OutputTemplate): ParsedFields | null {
  const { literals, fields } = template;
  const n = fields.length;
  const head = literals[0]!;
  const tail = literals[n]!;
  if (!text.startsWith(head) || !text.endsWith(tail) || text.length < head.length + tail.length) return null;
  const end = text.length - tail.length;
  const occ: number[][] = [];
  let once = true;
  for (let i = 1; i < n; i++) {
    occ[i] = occurrences(text, literals[i]!, end);
    if (occ[i]!.length !== 1) once = false;
  }
  // Fast path: each separator occurs exactly once, so there is at most one reading.
  if (once) return readSingle(text, template, occ, end);

  // Candidate ends b for field i starting at a: positions where literals[i+1] begins.
  const candidates = (i: number, a: number): number[] => {
    if (i === n - 1) return [end];
    const list = occ[i + 1]!;
    const from = lowerBound(list, a);
    if (isTokenType(fields[i]!.type)) {
      const ws = firstWhitespace(text, a, end);
      const upto = lowerBound(list, ws + 1);
      return list.slice(from, upto);
    }
    return list.slice(from);
  };
  const valid = (i: number, a: number, b: number) => b >= a && isValidFieldValue(fields[i]!.type, text.slice(a, b));
  const next = (i: number, b: number) => (i === n - 1 ? b : b + literals[i + 1]!.length);

  // Forward: reachable start positions of each field.
  const forward: number[][] = [[head.length]];
  for (let i = 0; i < n - 1; i++) {
    const starts = forward[i]!;
    const reach = new Set<number>();
    if (!isTokenType(fields[i]!.type)) {
      // A free-text value fits from any start; a path only from a start at a `/` (and is never empty).
      const isPath = fields[i]!.type === 'path';
      const open = isPath ? starts.filter((a) => text.startsWith('/', a)) : starts;
      if (open.length) {
        const minA = Math.min(...open);
        for (const b of candidates(i, minA)) if (!isPath || b > minA) reach.add(next(i, b));
      }
    } else {
      for (const a of starts) for (const b of candidates(i, a)) if (valid(i, a, b)) reach.add(next(i, b));
    }
    forward.push([...reach].sort((x, y) => x - y));
  }
  // Backward: keep starts from which the rest of the text still fits.
  const backward: Set<number>[] = new Array(n);
  backward[n - 1] = new Set(forward[n - 1]!.filter((a) => valid(n - 1, a, end)));
  for (let i = n - 2; i >= 0; i--) {
    const ok = new Set<number>();
    for (const a of forward[i]!) {
      if (candidates(i, a).some((b) => valid(i, a, b) && backward[i + 1]!.has(next(i, b)))) ok.add(a);
    }
    backward[i] = ok;
  }
  if (backward[0]!.size === 0) return null;

  const result: ParsedFields = { fields: {}, ambiguous: [], invalid: [], readings: {} };
  for (let i = 0; i < n; i++) {
    const values = new Set<string>();
    for (const a of backward[i]!) {
      for (const b of candidates(i, a)) {
        if (valid(i, a, b) && (i === n - 1 || backward[i + 1]!.has(next(i, b)))) values.add(text.slice(a, b));
        if (values.size > MAX_READINGS) break;
      }
      if (values.size > MAX_READINGS) break;
    }
    const name = fields[i]!.name;
    if (values.size === 1) {
      result.fields[name] = [...values][0]!;
    } else {
      result.ambiguous.push(name);
      result.readings[name] = [...values];
    }
  }
  return result;
}

function readSingle(text: string, template: OutputTemplate, occ: number[][], end: number): ParsedFields | null {
  const { literals, fields } = template;
  const result: ParsedFields = { fields: {}, ambiguous: [], invalid: [], readings: {} };
  let a = literals[0]!.length;
  for (let i = 0; i < fields.length; i++) {
    const b = i === fields.length - 1 ? end : occ[i + 1]![0]!;
    if (b < a) return null;
    const value = text.slice(a, b);
    if (!isValidFieldValue(fields[i]!.type, value)) return null;
    result.fields[fields[i]!.name] = value;
    if (i < fields.length - 1) a = b + literals[i + 1]!.length;
  }
  return result;
}

const KEY = /(^|\s)([A-Za-z_][A-Za-z0-9_.]*)=/g;

/**
 * Reads `key=value` pairs the way Falco rules write them: a value runs to the
 * next ` key=` and may contain spaces. Used when a rule has no template. A key
 * that appears more than once with different values is ambiguous and dropped;
 * a value of the wrong shape for its field is dropped as invalid.
 */
export function parseKeyValues(text: string): ParsedFields {
  const matches = [...text.matchAll(KEY)];
  const seen = new Map<string, Set<string>>();
  for (let i = 0; i < matches.length; i++) {
    const m = matches[i]!;
    const start = m.index + m[0].length;
    const stop = i + 1 < matches.length ? matches[i + 1]!.index : text.length;
    let value = text.slice(start, stop).trimEnd();
    const name = canonicalFieldName(m[2]!);
    // Stock Falco outputs close their field list with ")".
    if (i + 1 === matches.length && value.endsWith(')') && !value.includes('(')) value = value.slice(0, -1);
    const set = seen.get(name) ?? new Set<string>();
    set.add(value);
    seen.set(name, set);
  }
  const result: ParsedFields = { fields: {}, ambiguous: [], invalid: [], readings: {} };
  for (const [name, values] of seen) {
    if (values.size > 1) {
      result.ambiguous.push(name);
      result.readings[name] = [...values].filter((v) => isValidFieldValue(fieldTypeOf(name), v)).slice(0, MAX_READINGS + 1);
      continue;
    }
    const value = [...values][0]!;
    if (isValidFieldValue(fieldTypeOf(name), value)) result.fields[name] = value;
    else result.invalid.push(name);
  }
  return result;
}
