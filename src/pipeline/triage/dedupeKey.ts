import * as crypto from 'node:crypto';

/**
 * SHA-256 of a string, in hex: `crypto.hash` (one call, no Hash object) where Node has it
 * (20.12 and later, 21.7 and later), `createHash` otherwise. The digests are the same.
 */
const sha256Hex: (data: string | Uint8Array) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (data) => crypto.hash('sha256', data)
    : (data) => crypto.createHash('sha256').update(data).digest('hex');

type Parts = Record<string, string | number | undefined | null>;

/**
 * The canonical string of the parts (see dedupeKey): `key=-;` for a missing value, otherwise
 * `key=<length>:<value>;`, in the parts' order. The definition of the key: canonicalBytes writes
 * the same text's UTF-8 bytes, and is held to this by a property test.
 */
export function canonicalString(parts: Parts): string {
  let canonical = '';
  for (const k in parts) {
    const v = parts[k];
    if (v === undefined || v === null) {
      canonical += k + '=-;';
    } else {
      const s = typeof v === 'string' ? v : String(v);
      canonical += k + '=' + s.length + ':' + s + ';';
    }
  }
  return canonical;
}

/** Where canonicalBytes writes; a canonical text longer than this is hashed as a string. */
const SCRATCH = new Uint8Array(16_384);

/** Writes the ASCII string `s` at `at`; -1 when a character is outside ASCII or it does not fit. */
function writeAscii(s: string, at: number): number {
  const end = at + s.length;
  if (end > SCRATCH.length) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return -1;
    SCRATCH[at + i] = c;
  }
  return end;
}

/** Writes the decimal digits of `v` (a length: a non-negative integer) at `at`. */
function writeLength(v: number, at: number): number {
  let digits = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
  if (at + digits > SCRATCH.length) return -1;
  for (let i = at + digits - 1, x = v; i >= at; i--, x = Math.floor(x / 10)) SCRATCH[i] = 48 + (x % 10);
  return at + digits;
}

/**
 * canonicalString(parts) as bytes in SCRATCH, when it is all ASCII (its UTF-8 bytes are then its
 * characters): their number, or -1 (a character outside ASCII, or too long), and the string is
 * hashed instead. Written in place, this spares building the string and flattening it to hash it.
 */
export function canonicalBytes(parts: Parts): number {
  let n = 0;
  for (const k in parts) {
    const v = parts[k];
    n = writeAscii(k, n);
    // Room for `=`, `-` or `:`, and `;`.
    if (n < 0 || n + 3 > SCRATCH.length) return -1;
    SCRATCH[n++] = 61; // =
    if (v === undefined || v === null) {
      SCRATCH[n++] = 45; // -
    } else {
      const s = typeof v === 'string' ? v : String(v);
      n = writeLength(s.length, n);
      if (n < 0 || n + 2 > SCRATCH.length) return -1;
      SCRATCH[n++] = 58; // :
      n = writeAscii(s, n);
      if (n < 0 || n + 1 > SCRATCH.length) return -1;
    }
    SCRATCH[n++] = 59; // ;
  }
  return n;
}

/**
 * Builds a dedupe key from the identity of the activity: the same activity gives
 * the same key (whatever its time, uuid or local port); any change in the parts
 * gives another. Each part is length-prefixed, so no value can pose as another.
 * Keys are safe as Step Functions execution names (<= 80 chars).
 * The key is the SHA-256 of canonicalString(parts) (hashed from its bytes when they are ASCII).
 */
export function dedupeKey(prefix: 'falco' | 'guardduty', parts: Parts): string {
  // Callers pass the parts in a fixed order; the key names are part of the hash.
  const n = canonicalBytes(parts);
  const digest = n >= 0 ? sha256Hex(SCRATCH.subarray(0, n)) : sha256Hex(canonicalString(parts));
  return `${prefix}-${digest.slice(0, 40)}`;
}
