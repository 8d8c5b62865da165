import { parseIpAddress } from '../net/ipAddress.js';

/**
 * Value types for fields read out of Falco's output text. A `text` value may
 * contain spaces, and so may a `path` (an absolute file path: it starts with
 * `/`); every other type is one token and is checked strictly, which is what
 * lets the template parser tell real fields from injected ones.
 */
export const FIELD_TYPES = ['text', 'path', 'token', 'ip', 'port', 'k8sName', 'hostname', 'hex'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

/**
 * The value checks, written as loops over the characters: they run for every field of every
 * event, and each is exactly the pattern in its comment.
 */

/** JavaScript's `\s`: WhiteSpace and LineTerminator (what `trim` removes). */
export function isJsWhitespace(c: number): boolean {
  // Printable ASCII and the C1 controls (U+0085 included) first: none is whitespace, and most characters are there.
  if (c > 32 && c < 0xa0) return false;
  return (
    c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/** Character classes of ASCII, one bit each, looked up once per character. */
const DIGIT = 1;
const LOWER = 2;
const UPPER = 4;
const HEX_LETTER = 8;
const ASCII_CLASS = new Uint8Array(128);
for (let c = 48; c <= 57; c++) ASCII_CLASS[c] = DIGIT;
for (let c = 97; c <= 122; c++) ASCII_CLASS[c] = LOWER | (c <= 102 ? HEX_LETTER : 0);
for (let c = 65; c <= 90; c++) ASCII_CLASS[c] = UPPER | (c <= 70 ? HEX_LETTER : 0);

// Each check reads text[from, to): the template parser checks a value where it lies in the line,
// before (and without) cutting it out.

/** `/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/` (a Kubernetes name), or with A-Z too (a hostname). */
function isDnsName(text: string, from: number, to: number, upper: boolean): boolean {
  const n = to - from;
  if (n <= 0 || n > 253) return false;
  const allowed = upper ? DIGIT | LOWER | UPPER : DIGIT | LOWER;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 128 && (ASCII_CLASS[c]! & allowed) !== 0) continue;
    if ((c === 45 || c === 46) && i !== from && i !== to - 1) continue;
    return false;
  }
  return true;
}

/** `/^[0-9a-f]{1,64}$/i`. */
function isHex(text: string, from: number, to: number): boolean {
  const n = to - from;
  if (n <= 0 || n > 64) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || (ASCII_CLASS[c]! & (DIGIT | HEX_LETTER)) === 0) return false;
  }
  return true;
}

/** `/^\S+$/u`: not empty, no whitespace. */
function isToken(text: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) if (isJsWhitespace(text.charCodeAt(i))) return false;
  return true;
}

/** `/^\d{1,5}$/` and 1 to 65535. */
function isPort(text: string, from: number, to: number): boolean {
  const n = to - from;
  if (n <= 0 || n > 5) return false;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return false;
    v = v * 10 + (c - 48);
  }
  return v >= 1 && v <= 65535;
}

/** isPlainIpv4 of text[from, to). */
function isPlainIpv4At(text: string, from: number, to: number): boolean {
  const n = to - from;
  if (n < 7 || n > 15) return false;
  let parts = 0;
  let digits = 0;
  let part = 0;
  for (let i = from; i <= to; i++) {
    const c = i === to ? 46 : text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255 || ++parts > 4) return false;
      digits = 0;
      part = 0;
    } else if (isDigit(c)) {
      if (digits === 1 && part === 0) return false;
      part = part * 10 + (c - 48);
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return parts === 4;
}

/**
 * True when `value` is an IPv4 address in four decimal parts (no leading zeros, each at most
 * 255): the IP module reads such text as that address, and its canonical form is the text itself.
 * False says only that the fast reading does not apply (ask the IP module).
 */
export function isPlainIpv4(value: string): boolean {
  return isPlainIpv4At(value, 0, value.length);
}

/** Whether text[from, to) is a valid value of the type (isValidFieldValue without cutting the value out). */
export function isValidFieldRange(type: FieldType, text: string, from: number, to: number): boolean {
  switch (type) {
    case 'text':
      return true;
    case 'path':
      // Only the first character: which readings fit must not depend on where a value ends.
      return to > from && text.charCodeAt(from) === 47;
    case 'token':
      return isToken(text, from, to);
    case 'ip':
      return isPlainIpv4At(text, from, to) || parseIpAddress(text.slice(from, to)) !== undefined;
    case 'port':
      return isPort(text, from, to);
    case 'k8sName':
      return isDnsName(text, from, to, false);
    case 'hostname':
      return isDnsName(text, from, to, true);
    case 'hex':
      return isHex(text, from, to);
  }
}

export function isValidFieldValue(type: FieldType, value: string): boolean {
  return isValidFieldRange(type, value, 0, value.length);
}

/** True for types whose values never contain whitespace. */
export function isTokenType(type: FieldType): boolean {
  return type !== 'text' && type !== 'path';
}

/** Canonical field names and the types their values must have. Unknown names are `text`. */
export const CANONICAL_FIELD_TYPES: Readonly<Record<string, FieldType>> = {
  node: 'hostname',
  ns: 'k8sName',
  pod: 'k8sName',
  container: 'token',
  container_id: 'hex',
  user: 'token',
  proc: 'token',
  parent: 'token',
  reason: 'token',
  attacker_ip: 'ip',
  attacker_port: 'port',
  local_port: 'port',
  rip: 'ip',
  rport: 'port',
  sip: 'ip',
  tty: 'token',
  artifact_path: 'path',
  src: 'path',
  dst: 'path',
  cmdline: 'text',
  exepath: 'text',
  connection: 'text',
};

/** Aliases used by rules' key=value output, mapped to canonical names. */
export const FIELD_ALIASES: Readonly<Record<string, string>> = {
  ns: 'ns',
  k8s_ns_name: 'ns',
  k8s_ns: 'ns',
  'k8s.ns.name': 'ns',
  pod: 'pod',
  k8s_pod_name: 'pod',
  k8s_pod: 'pod',
  'k8s.pod.name': 'pod',
  container: 'container',
  container_name: 'container',
  'container.name': 'container',
  container_id: 'container_id',
  'container.id': 'container_id',
  node: 'node',
  user: 'user',
  'user.name': 'user',
  proc: 'proc',
  process: 'proc',
  'proc.name': 'proc',
  parent: 'parent',
  'proc.pname': 'parent',
  cmdline: 'cmdline',
  command: 'cmdline',
  'proc.cmdline': 'cmdline',
  exepath: 'exepath',
  proc_exepath: 'exepath',
  'proc.exepath': 'exepath',
  artifact_path: 'artifact_path',
  src: 'src',
  dst: 'dst',
  reason: 'reason',
  'fd.rip': 'rip',
  rip: 'rip',
  'fd.rport': 'rport',
  rport: 'rport',
  'fd.sip': 'sip',
  'fd.lport': 'local_port',
  'fd.name': 'connection',
  connection: 'connection',
  tty: 'tty',
  'proc.tty': 'tty',
};

export function canonicalFieldName(key: string): string {
  return FIELD_ALIASES[key] ?? key;
}

export function fieldTypeOf(name: string): FieldType {
  return CANONICAL_FIELD_TYPES[name] ?? 'text';
}
