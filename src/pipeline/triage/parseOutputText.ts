import { canonicalFieldName, FIELD_ALIASES, fieldTypeOf, isJsWhitespace, isTokenType, isValidFieldRange, isValidFieldValue } from './fieldTypes.js';
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
 * The one reading of `text` by the template, as the values of its fields in template order, when
 * every separator (literals 1 to n-1) occurs exactly once before the tail (overlapping occurrences
 * counted): then the fields lie between them, and the text fits when each value has its field's
 * type. One pass finds the separators (SeparatorScan) and each value is checked where it lies.
 * null: no reading fits (a separator missing, out of order, or a value of the wrong type);
 * undefined: a separator occurs more than once, and only the search of every reading
 * (parseByEveryReading) can tell.
 */
export function readTemplateValues(text: string, template: OutputTemplate): string[] | null | undefined {
  const { literals, fields, scan } = template;
  const n = fields.length;
  const head = literals[0]!;
  const tail = literals[n]!;
  if (!text.startsWith(head) || !text.endsWith(tail) || text.length < head.length + tail.length) return null;
  const end = text.length - tail.length;
  const { at, count } = scan;
  if (n > 1) {
    for (let i = 1; i < n; i++) count[i] = 0;
    for (const group of scan.groups) {
      const first = group.first;
      for (let p = text.indexOf(first); p !== -1 && p < end; p = text.indexOf(first, p + 1)) {
        for (const i of group.single) {
          if (count[i] !== 0) return undefined;
          count[i] = 1;
          at[i] = p;
        }
        const second = text.charCodeAt(p + 1);
        const list = second < 128 ? group.asciiSecond[second] : group.bySecond.get(second);
        if (list === undefined) continue;
        for (const s of list) {
          // The first two characters are known to agree; the last is compared next.
          const length = s.text.length;
          if (p + length > end || text.charCodeAt(p + length - 1) !== s.last) continue;
          let k = 2;
          while (k < length - 1 && text.charCodeAt(p + k) === s.text.charCodeAt(k)) k++;
          if (k < length - 1) continue;
          if (count[s.literal] !== 0) return undefined;
          count[s.literal] = 1;
          at[s.literal] = p;
        }
      }
    }
    for (let i = 1; i < n; i++) if (count[i] === 0) return null;
  }
  const values: string[] = new Array(n);
  let a = head.length;
  for (let i = 0; i < n; i++) {
    const b = i === n - 1 ? end : at[i + 1]!;
    if (b < a || !isValidFieldRange(fields[i]!.type, text, a, b)) return null;
    values[i] = text.slice(a, b);
    if (i < n - 1) a = b + literals[i + 1]!.length;
  }
  return values;
}

/**
 * Reads `text` by a rule's output template. Every reading of the whole text
 * that fits the template and the field types is considered: a field is kept
 * only when all readings agree on it, so text crafted inside a free-form field
 * (a command line, a file name) cannot pose as another field. Returns null
 * when the text does not fit the template at all.
 */
export function parseWithTemplate(text: string, template: OutputTemplate): ParsedFields | null {
  // Most texts have one reading, found in one pass; the search of every reading is for the rest.
  const values = readTemplateValues(text, template);
  if (values === null) return null;
  if (values === undefined) return parseByEveryReading(text, template);
  const fields: Record<string, string> = {};
  for (let i = 0; i < values.length; i++) fields[template.fields[i]!.name] = values[i]!;
  return { fields, ambiguous: [], invalid: [], readings: {} };
}

/**
 * parseWithTemplate by its definition: every reading of the text is searched for (forward, the
 * starts each field can have; backward, those from which the rest still fits), and a field is
 * kept only when all readings agree on it. parseWithTemplate gives the same answer, faster when
 * there is one reading; this is the reference it is tested against.
 */
export function parseByEveryReading(text: string, template: OutputTemplate): ParsedFields | null {
  const { literals, fields } = template;
  const n = fields.length;
  const head = literals[0]!;
  const tail = literals[n]!;
  if (!text.startsWith(head) || !text.endsWith(tail) || text.length < head.length + tail.length) return null;
  const end = text.length - tail.length;
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

/**
 * The keys of key=value text, as parseKeyValues finds them (`/(^|\s)([A-Za-z_][A-Za-z0-9_.]*)=/g`),
 * in order: three numbers each, the match's index (the whitespace before the key, or 0), where the
 * key starts and where its `=` is. Found by jumping from one `=` to the next: the key of an `=` is
 * the run of key characters right before it, which must start the text or follow whitespace.
 */
export function findKeys(text: string): number[] {
  const keys: number[] = [];
  for (let e = text.indexOf('='); e !== -1; e = text.indexOf('=', e + 1)) {
    let k = e;
    while (k > 0 && isKeyPart(text.charCodeAt(k - 1))) k--;
    if (k === e || !isKeyStart(text.charCodeAt(k))) continue;
    if (k > 0 && !isJsWhitespace(text.charCodeAt(k - 1))) continue;
    keys.push(k === 0 ? 0 : k - 1, k, e);
  }
  return keys;
}

/** What key=value text says of one field (see keyValueField). */
export type KeyValueField =
  | { kind: 'value'; value: string }
  | { kind: 'ambiguous'; readings: string[] }
  | { kind: 'invalid' }
  | { kind: 'absent' };

const ABSENT_FIELD: KeyValueField = Object.freeze({ kind: 'absent' });
const INVALID_FIELD: KeyValueField = Object.freeze({ kind: 'invalid' });
const KEY_SHAPED = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** The keys of a text that canonicalFieldName turns into `name` (its aliases, and the name itself unless it is another's alias). */
const KEYS_OF = new Map<string, readonly string[]>();

function keysOf(name: string): readonly string[] {
  let keys = KEYS_OF.get(name);
  if (!keys) {
    const list = Object.keys(FIELD_ALIASES).filter((k) => FIELD_ALIASES[k] === name);
    if (canonicalFieldName(name) === name && !list.includes(name)) list.push(name);
    keys = list;
    KEYS_OF.set(name, keys);
  }
  return keys;
}

/**
 * What parseKeyValues(text) says of the field `name` (its `fields`, `ambiguous`, `invalid` and
 * `readings` for that name), reading only the values of that field's keys: `keys` is
 * findKeys(text). A property test holds it to parseKeyValues.
 */
export function keyValueField(text: string, keys: readonly number[], name: string): KeyValueField {
  // Only a key-shaped name can be a key's canonical name as a string; any other is asked of parseKeyValues.
  if (!KEY_SHAPED.test(name)) {
    const all = parseKeyValues(text);
    if (all.ambiguous.includes(name)) return { kind: 'ambiguous', readings: all.readings[name]! };
    if (all.invalid.includes(name)) return INVALID_FIELD;
    return Object.hasOwn(all.fields, name) ? { kind: 'value', value: all.fields[name]! } : ABSENT_FIELD;
  }
  const wanted = keysOf(name);
  let first: string | undefined;
  let distinct: string[] | undefined;
  for (let j = 0; j < keys.length; j += 3) {
    const key = keys[j + 1]!;
    const length = keys[j + 2]! - key;
    let match = false;
    for (const w of wanted) {
      if (w.length === length && text.startsWith(w, key)) {
        match = true;
        break;
      }
    }
    if (!match) continue;
    const last = j + 3 >= keys.length;
    let value = text.slice(keys[j + 2]! + 1, last ? text.length : keys[j + 3]!).trimEnd();
    // Stock Falco outputs close their field list with ")".
    if (last && value.endsWith(')') && !value.includes('(')) value = value.slice(0, -1);
    if (first === undefined) first = value;
    else if (distinct === undefined) {
      if (value !== first) distinct = [first, value];
    } else if (!distinct.includes(value)) distinct.push(value);
  }
  if (first === undefined) return ABSENT_FIELD;
  const type = fieldTypeOf(name);
  if (distinct !== undefined) return { kind: 'ambiguous', readings: distinct.filter((v) => isValidFieldValue(type, v)).slice(0, MAX_READINGS + 1) };
  return isValidFieldValue(type, first) ? { kind: 'value', value: first } : INVALID_FIELD;
}
