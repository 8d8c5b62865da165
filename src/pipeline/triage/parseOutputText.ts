import { canonicalFieldName, fieldTypeOf, isJsWhitespace, isTokenType, isValidFieldRange, isValidFieldValue } from './fieldTypes.js';
import type { OutputTemplate, SeparatorOverlap } from './outputTemplate.js';

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
  // Fast paths: each separator occurs exactly once, so there is at most one reading.
  if (template.separators) {
    // One split finds the separators: when it saw every occurrence, and they are the separators
    // in template order, once each, the pieces between them are the values.
    const { pattern, overlaps } = template.separators;
    const pieces = (end === text.length ? text : text.slice(0, end)).split(pattern);
    if (pieces.length === 2 * n - 1 && inTemplateOrder(pieces, literals) && !hiddenOccurrence(text, pieces, overlaps, end)) return readPieces(pieces, template);
  } else {
    // Two searches per separator tell (the first occurrence, and none after it).
    const single = onlyOccurrences(text, literals, end);
    if (single) return readSingle(text, template, single, end);
  }
  const occ: number[][] = [];
  for (let i = 1; i < n; i++) occ[i] = occurrences(text, literals[i]!, end);

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
  const valid = (i: number, a: number, b: number) => b >= a && isValidFieldRange(fields[i]!.type, text, a, b);
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

/**
 * The position of each separator (literals 1 to n-1) when each occurs exactly once in the text
 * before `end` (counting overlapping occurrences, as `occurrences` does); null otherwise.
 */
function onlyOccurrences(text: string, literals: readonly string[], end: number): number[] | null {
  const n = literals.length - 1;
  const at: number[] = new Array(n);
  for (let i = 1; i < n; i++) {
    const literal = literals[i]!;
    if (!literal) return null;
    const first = text.indexOf(literal);
    if (first === -1 || first + literal.length > end) return null;
    const second = text.indexOf(literal, first + 1);
    if (second !== -1 && second + literal.length <= end) return null;
    at[i] = first;
  }
  return at;
}

/** Whether the separators split out (odd places of `pieces`) are literals 1 to n-1 in order. */
function inTemplateOrder(pieces: readonly string[], literals: readonly string[]): boolean {
  for (let i = 1; i < pieces.length; i += 2) if (pieces[i] !== literals[(i + 1) / 2]) return false;
  return true;
}

/**
 * Whether a separator occurs where the split could not see it: starting inside the separator
 * found before it (only where `overlaps` says one can).
 */
function hiddenOccurrence(text: string, pieces: readonly string[], overlaps: ReadonlyMap<string, readonly SeparatorOverlap[]>, end: number): boolean {
  if (overlaps.size === 0) return false;
  let pos = pieces[0]!.length;
  for (let i = 1; i < pieces.length; i += 2) {
    const separator = pieces[i]!;
    const list = overlaps.get(separator);
    if (list) {
      const next = text.charCodeAt(pos + separator.length);
      for (const o of list) {
        if (o.next === next && pos + o.at + o.literal.length <= end && text.startsWith(o.literal, pos + o.at)) return true;
      }
    }
    pos += separator.length + pieces[i + 1]!.length;
  }
  return false;
}

/** readSingle for a text split at its separators: the value of field i is piece 2i (the first after the head). */
function readPieces(pieces: readonly string[], template: OutputTemplate): ParsedFields | null {
  const { literals, fields } = template;
  const head = literals[0]!.length;
  const first = pieces[0]!;
  // The first separator inside the head: no reading (readSingle's b < a).
  if (first.length < head) return null;
  const values: Record<string, string> = {};
  for (let i = 0; i < fields.length; i++) {
    const value = i === 0 ? (head === 0 ? first : first.slice(head)) : pieces[2 * i]!;
    if (!isValidFieldValue(fields[i]!.type, value)) return null;
    values[fields[i]!.name] = value;
  }
  return { fields: values, ambiguous: [], invalid: [], readings: {} };
}

function readSingle(text: string, template: OutputTemplate, at: readonly number[], end: number): ParsedFields | null {
  const { literals, fields } = template;
  const values: Record<string, string> = {};
  let a = literals[0]!.length;
  for (let i = 0; i < fields.length; i++) {
    const b = i === fields.length - 1 ? end : at[i + 1]!;
    if (b < a) return null;
    if (!isValidFieldRange(fields[i]!.type, text, a, b)) return null;
    values[fields[i]!.name] = text.slice(a, b);
    if (i < fields.length - 1) a = b + literals[i + 1]!.length;
  }
  return { fields: values, ambiguous: [], invalid: [], readings: {} };
}

/** `[A-Za-z_]`, then `[A-Za-z0-9_.]`: the characters of a key. */
const isKeyStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isKeyPart = (c: number) => isKeyStart(c) || (c >= 48 && c <= 57) || c === 46;

/**
 * The next `key=` at or after `from` that starts the text or follows whitespace, as
 * `/(^|\s)([A-Za-z_][A-Za-z0-9_.]*)=/g` finds it: the match's index (the whitespace before the
 * key, or 0), and where the key starts and ends (the `=`). -1 when there is none.
 */
function nextKey(text: string, from: number, out: { index: number; key: number; eq: number }): boolean {
  const n = text.length;
  for (let w = from === 0 ? -1 : from; w < n - 1; w++) {
    if (w >= 0 && !isJsWhitespace(text.charCodeAt(w))) continue;
    const k = w + 1;
    if (!isKeyStart(text.charCodeAt(k))) continue;
    let e = k + 1;
    while (e < n && isKeyPart(text.charCodeAt(e))) e++;
    if (e < n && text.charCodeAt(e) === 61) {
      out.index = w < 0 ? 0 : w;
      out.key = k;
      out.eq = e;
      return true;
    }
  }
  return false;
}

/**
 * Reads `key=value` pairs the way Falco rules write them: a value runs to the
 * next ` key=` and may contain spaces. Used when a rule has no template. A key
 * that appears more than once with different values is ambiguous and dropped;
 * a value of the wrong shape for its field is dropped as invalid.
 */
export function parseKeyValues(text: string): ParsedFields {
  // Each name's values in order of appearance: one string, or a Set once there are two.
  const seen = new Map<string, string | Set<string>>();
  const m = { index: 0, key: 0, eq: 0 };
  const next = { index: 0, key: 0, eq: 0 };
  let found = nextKey(text, 0, m);
  while (found) {
    const start = m.eq + 1;
    const more = nextKey(text, start, next);
    const stop = more ? next.index : text.length;
    let value = text.slice(start, stop).trimEnd();
    const name = canonicalFieldName(text.slice(m.key, m.eq));
    // Stock Falco outputs close their field list with ")".
    if (!more && value.endsWith(')') && !value.includes('(')) value = value.slice(0, -1);
    const had = seen.get(name);
    if (had === undefined) seen.set(name, value);
    else if (typeof had === 'string') {
      if (had !== value) seen.set(name, new Set([had, value]));
    } else had.add(value);
    m.index = next.index;
    m.key = next.key;
    m.eq = next.eq;
    found = more;
  }
  const result: ParsedFields = { fields: {}, ambiguous: [], invalid: [], readings: {} };
  for (const [name, values] of seen) {
    if (typeof values !== 'string') {
      result.ambiguous.push(name);
      result.readings[name] = [...values].filter((v) => isValidFieldValue(fieldTypeOf(name), v)).slice(0, MAX_READINGS + 1);
      continue;
    }
    if (isValidFieldValue(fieldTypeOf(name), values)) result.fields[name] = values;
    else result.invalid.push(name);
  }
  return result;
}
