import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { ValidationError } from '../../errors.js';

/**
 * sentinel's one IP module, on ipaddr.js: parsing, the canonical text form, CIDRs, and the IPv4
 * address an IPv6 address carries. Protection, the allowlist, dedupe keys, block records and
 * network ACL CIDRs all go through it, so they agree on what an address is.
 *
 * - Parsing is strict: IPv4 only as four decimal parts without leading zeros (`010.0.0.1` is
 *   octal to some parsers and decimal to others), IPv6 without a zone id.
 * - The canonical form is IPv4 dotted decimal, or IPv6 as RFC 5952 (lower case, longest run of
 *   zero groups compressed). An IPv4-mapped IPv6 address (`::ffff:a00:1`) IS its IPv4 address
 *   (a socket sends IPv4), so its canonical form is the IPv4 one.
 * - Other IPv6 forms that carry an IPv4 address (IPv4-compatible, IPv4-translated, NAT64, 6to4,
 *   Teredo) stay IPv6 on the wire, so they keep their IPv6 canonical form; `ipv4Readings` lists
 *   the IPv4 addresses they carry, and protection judges each of them as that IPv4 address.
 */

export type IpFamily = 'ipv4' | 'ipv6';

export interface IpAddress {
  /** Canonical text. */
  text: string;
  family: IpFamily;
  /** The address as a number (32 bits for IPv4, 128 for IPv6). */
  value: bigint;
}

export interface Cidr {
  /** Canonical `<address>/<prefix>`; the address is the network address (host bits cleared). */
  text: string;
  family: IpFamily;
  prefix: number;
  /** First and last address of the range. */
  first: bigint;
  last: bigint;
}

/** How an IPv6 address carries an IPv4 address. */
export type Ipv4Form =
  | 'IPv4-compatible'
  | 'IPv4-translated'
  | 'NAT64'
  | 'NAT64 (local-use prefix)'
  | '6to4'
  | 'Teredo server'
  | 'Teredo client';

export interface Ipv4Reading {
  form: Ipv4Form;
  ipv4: IpAddress;
}

const DECIMAL_QUAD = /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/;
const DOTTED_TAIL = /:((?:\d+\.){3}\d+)$/;

export const bitsOf = (family: IpFamily): number => (family === 'ipv4' ? 32 : 128);

function toBigInt(bytes: readonly number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function fromBigInt(value: bigint, family: IpFamily): IpAddress {
  const bytes: number[] = [];
  for (let i = bitsOf(family) / 8 - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  const addr = ipaddr.fromByteArray(bytes);
  return { text: textOf(addr), family, value };
}

function textOf(addr: ipaddr.IPv4 | ipaddr.IPv6): string {
  return addr.kind() === 'ipv4' ? addr.toString() : (addr as ipaddr.IPv6).toRFC5952String();
}

/** The library's address for text that passes the strict rules; undefined otherwise. */
function strictParse(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64 || text.includes('%')) return undefined;
  if (DECIMAL_QUAD.test(text)) return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : undefined;
  if (!text.includes(':') || !ipaddr.IPv6.isValid(text)) return undefined;
  const tail = DOTTED_TAIL.exec(text)?.[1];
  if (tail !== undefined && !(DECIMAL_QUAD.test(tail) && ipaddr.IPv4.isValidFourPartDecimal(tail))) return undefined;
  return ipaddr.IPv6.parse(text);
}

/**
 * Parses an IPv4 or IPv6 address (no prefix length, no zone id). An IPv4-mapped IPv6 address
 * comes back as its IPv4 address. Undefined for anything else.
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  const addr = strictParse(text);
  if (!addr) return undefined;
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    const v4 = (addr as ipaddr.IPv6).toIPv4Address();
    return { text: v4.toString(), family: 'ipv4', value: toBigInt(v4.toByteArray()) };
  }
  return { text: textOf(addr), family: addr.kind(), value: toBigInt(addr.toByteArray()) };
}

/** The canonical text of an address; undefined when it is not one. */
export function canonicalIp(text: string): string | undefined {
  return parseIpAddress(text.trim())?.text;
}

export function isIpAddress(text: string): boolean {
  return parseIpAddress(text) !== undefined;
}

/** The canonical text of an address; ValidationError naming the value when it is not one. */
export function normalizeIp(text: string): string {
  const ip = parseIpAddress(text);
  if (!ip) throw new ValidationError(`${JSON.stringify(text)} is not an IPv4 or IPv6 address (no prefix length, no zone id)`);
  return ip.text;
}

const IP_ADDRESS_MESSAGE = 'an IPv4 or IPv6 address (no prefix length, no zone id; IPv4 in four decimal parts)';

/** An IP address, trimmed and turned into its canonical form. */
export const ipAddressSchema = z
  .string()
  .trim()
  .max(64)
  .refine((v) => parseIpAddress(v) !== undefined, IP_ADDRESS_MESSAGE)
  .transform((v) => parseIpAddress(v)!.text);

// ---------------------------------------------------------------------------------------------
// CIDRs

const mask = (family: IpFamily, prefix: number): bigint => {
  const bits = BigInt(bitsOf(family));
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
};

/** A range from an address and a prefix length (host bits cleared). */
export function cidrOf(ip: IpAddress, prefix: number): Cidr {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bitsOf(ip.family)) throw new ValidationError(`/${prefix} is not a prefix length of an ${ip.family} address`);
  const first = ip.value & mask(ip.family, prefix);
  const last = first | ((1n << BigInt(bitsOf(ip.family) - prefix)) - 1n);
  return { text: `${fromBigInt(first, ip.family).text}/${prefix}`, family: ip.family, prefix, first, last };
}

/**
 * Parses `<address>/<prefix>` (prefix in decimal, no leading zeros). Host bits are cleared
 * (`10.1.2.3/8` is `10.0.0.0/8`). An IPv4-mapped IPv6 range of /96 or longer is its IPv4 range.
 */
export function parseCidr(text: string): Cidr | undefined {
  if (typeof text !== 'string') return undefined;
  const m = /^([^/]+)\/(0|[1-9]\d{0,2})$/.exec(text.trim());
  if (!m) return undefined;
  const prefix = Number(m[2]);
  const addr = strictParse(m[1]!);
  if (!addr) return undefined;
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    if (prefix < 96 || prefix > 128) return prefix <= 128 ? cidrOf({ text: textOf(addr), family: 'ipv6', value: toBigInt(addr.toByteArray()) }, prefix) : undefined;
    const v4 = (addr as ipaddr.IPv6).toIPv4Address();
    return cidrOf({ text: v4.toString(), family: 'ipv4', value: toBigInt(v4.toByteArray()) }, prefix - 96);
  }
  const family = addr.kind();
  if (prefix > bitsOf(family)) return undefined;
  return cidrOf({ text: textOf(addr), family, value: toBigInt(addr.toByteArray()) }, prefix);
}

/** The canonical form of a CIDR; the input unchanged when it is not one (EC2 may describe odd entries). */
export function normalizeCidr(text: string): string {
  return parseCidr(text)?.text ?? text;
}

/** The single-address range of an address: `<ip>/32` or `<ip>/128`. */
export function hostCidr(ip: IpAddress | string): Cidr {
  const parsed = typeof ip === 'string' ? parseIpAddress(ip) : ip;
  if (!parsed) throw new ValidationError(`${JSON.stringify(ip)} is not an IP address`);
  return cidrOf(parsed, bitsOf(parsed.family));
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  return cidr.family === ip.family && ip.value >= cidr.first && ip.value <= cidr.last;
}

/** A CIDR such as 192.0.2.0/24 or 2001:db8::/32, in its canonical form. */
export const cidrSchema = z
  .string()
  .trim()
  .refine((v) => parseCidr(v) !== undefined, 'a CIDR such as 192.0.2.0/24 or 2001:db8::/32')
  .transform((v) => parseCidr(v)!.text);

// ---------------------------------------------------------------------------------------------
// IPv4 addresses carried inside IPv6 ones

const V6 = (text: string): Cidr => parseCidr(text)!;
const IPV4_COMPATIBLE = V6('::/96');
const IPV4_TRANSLATED = V6('::ffff:0:0:0/96');
const NAT64 = V6('64:ff9b::/96');
const NAT64_LOCAL = V6('64:ff9b:1::/48');
const SIX_TO_FOUR = V6('2002::/16');
const TEREDO = V6('2001::/32');

const bitsAt = (value: bigint, from: number, count: number): bigint => (value >> BigInt(128 - from - count)) & ((1n << BigInt(count)) - 1n);
const v4 = (value: bigint): IpAddress => fromBigInt(value & 0xffffffffn, 'ipv4');

/**
 * The IPv4 addresses an IPv6 address carries, by form: IPv4-compatible (`::a.b.c.d`, except
 * `::` and `::1`), IPv4-translated (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::/96`, and every
 * RFC 6052 position a local-use `64:ff9b:1::/48` prefix may use), 6to4 (`2002::/16`) and Teredo
 * (`2001::/32`: the server, and the client with its obfuscation undone). IPv4-mapped addresses
 * never get here: they parse as IPv4. Empty for an IPv4 address or any other IPv6 one.
 */
export function ipv4Readings(ip: IpAddress): Ipv4Reading[] {
  if (ip.family !== 'ipv6') return [];
  const x = ip.value;
  const out: Ipv4Reading[] = [];
  if (cidrContains(IPV4_COMPATIBLE, ip) && x > 1n) out.push({ form: 'IPv4-compatible', ipv4: v4(x) });
  if (cidrContains(IPV4_TRANSLATED, ip)) out.push({ form: 'IPv4-translated', ipv4: v4(x) });
  if (cidrContains(NAT64, ip)) out.push({ form: 'NAT64', ipv4: v4(x) });
  if (cidrContains(NAT64_LOCAL, ip)) {
    // RFC 6052 section 2.2: bits 64-71 are skipped; where the IPv4 address sits depends on the prefix length.
    const positions: [number, number][][] = [
      [[48, 16], [72, 16]], // /48
      [[56, 8], [72, 24]], // /56
      [[72, 32]], // /64
      [[96, 32]], // /96
    ];
    const seen = new Set<string>();
    for (const parts of positions) {
      let value = 0n;
      for (const [from, count] of parts) value = (value << BigInt(count)) | bitsAt(x, from, count);
      const reading = v4(value);
      if (seen.has(reading.text)) continue;
      seen.add(reading.text);
      out.push({ form: 'NAT64 (local-use prefix)', ipv4: reading });
    }
  }
  if (cidrContains(SIX_TO_FOUR, ip)) out.push({ form: '6to4', ipv4: v4(bitsAt(x, 16, 32)) });
  if (cidrContains(TEREDO, ip)) {
    out.push({ form: 'Teredo server', ipv4: v4(bitsAt(x, 32, 32)) });
    out.push({ form: 'Teredo client', ipv4: v4(bitsAt(x, 96, 32) ^ 0xffffffffn) });
  }
  return out;
}
