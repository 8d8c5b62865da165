import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { packageRoot } from '../../util/packageRoot.js';
import { bitsOf, cidrOf, parseCidr, type IpAddress, type IpFamily } from './ipAddress.js';

/**
 * AWS's published address ranges (ip-ranges.json), as protection uses them: an address AWS
 * operates a service on is never a block target. A copy ships in config/aws-ip-ranges.json
 * (config/aws-ip-ranges.source.md says where it came from); the bot refreshes it on a schedule
 * (refreshAwsIpRanges.ts) and falls back to the bundled copy.
 *
 * Which addresses are protected: every prefix of every service, except those of the services
 * listed as blockable (EC2 by default: customers' instances live there, and an attacker's server
 * on EC2 must stay blockable). `AMAZON` lists all of Amazon's space, customers' EC2 addresses
 * included, so an address listed only under AMAZON is protected unless a blockable service's
 * prefix also holds it ("AMAZON minus EC2" is AWS's own space).
 */

export const AWS_IP_RANGES_FILE = (): string => join(packageRoot(), 'config', 'aws-ip-ranges.json');
export const AWS_IP_RANGES_URL = 'https://ip-ranges.amazonaws.com/ip-ranges.json';

/** Fewer prefixes than this is not a real ip-ranges.json (AWS publishes more than 16,000). */
export const MIN_AWS_PREFIXES = 1000;
/**
 * The broadest prefix accepted (AWS's broadest are /11 and /32 in 2026): a copy that claims a
 * huge range would protect, and so make unblockable, a large part of the Internet.
 */
export const BROADEST_AWS_PREFIX = { ipv4: 8, ipv6: 24 } as const;

/** A prefix's range, as parseCidr reads it (without its canonical text). */
export interface PrefixRange {
  family: IpFamily;
  prefix: number;
  first: bigint;
  last: bigint;
}

const PLAIN_IPV4_CIDR = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\/(0|[1-9]\d?)$/;
const PLAIN_IPV6_CIDR = /^([0-9a-fA-F:]{2,39})\/(0|[1-9]\d{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

const rangeOf = (family: IpFamily, value: bigint, prefix: number): PrefixRange => {
  const host = BigInt(bitsOf(family) - prefix);
  const first = (value >> host) << host;
  return { family, prefix, first, last: first | ((1n << host) - 1n) };
};

/** The value of `a:b::c` (hex groups, at most one `::`), or undefined for any other spelling. */
function plainIpv6Value(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) return undefined;
  if (!head.every((g) => HEX_GROUP.test(g)) || !tail.every((g) => HEX_GROUP.test(g))) return undefined;
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail].map((g) => parseInt(g, 16));
  // IPv4-mapped (::ffff:0:0/96): parseCidr turns these into IPv4 ranges; leave them to it.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return undefined;
  return groups.reduce((v, g) => (v << 16n) | BigInt(g), 0n);
}

/**
 * A published prefix's range: exactly what parseCidr reads (family, length, first and last
 * address; undefined when it reads none), for the cost of a regular expression and some
 * arithmetic on the spellings ip-ranges.json uses (IPv4 dotted decimal; IPv6 hex groups with at
 * most one `::`), which are 16,000-odd at every start and every refresh. Any other spelling
 * (IPv4-mapped, a dotted IPv6 tail, whitespace, anything odd) goes to parseCidr itself.
 */
export function parsePublishedPrefix(text: string): PrefixRange | undefined {
  const v4 = PLAIN_IPV4_CIDR.exec(text);
  if (v4) {
    const [a, b, c, d, prefix] = [Number(v4[1]), Number(v4[2]), Number(v4[3]), Number(v4[4]), Number(v4[5])];
    if (a <= 255 && b <= 255 && c <= 255 && d <= 255 && prefix <= 32) return rangeOf('ipv4', BigInt(a * 2 ** 24 + b * 2 ** 16 + c * 2 ** 8 + d), prefix);
  }
  const v6 = PLAIN_IPV6_CIDR.exec(text);
  if (v6 && Number(v6[2]) <= 128) {
    const value = plainIpv6Value(v6[1]!);
    if (value !== undefined) return rangeOf('ipv6', value, Number(v6[2]));
  }
  const cidr = parseCidr(text);
  return cidr && { family: cidr.family, prefix: cidr.prefix, first: cidr.first, last: cidr.last };
}

const prefixEntry = z.object({ region: z.string().min(1).max(64), service: z.string().min(1).max(64), network_border_group: z.string().max(64).optional() });

/** The document AWS publishes (only what sentinel reads; other fields pass). */
export const awsIpRangesDocumentSchema = z
  .object({
    syncToken: z.string().regex(/^\d{1,20}$/, 'digits (seconds since the epoch)'),
    createDate: z.string().regex(/^\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$/, 'YYYY-MM-DD-hh-mm-ss'),
    prefixes: z.array(prefixEntry.extend({ ip_prefix: z.string().min(9).max(18) }).loose()),
    ipv6_prefixes: z.array(prefixEntry.extend({ ipv6_prefix: z.string().min(3).max(43) }).loose()),
  })
  .loose()
  .superRefine((doc, ctx) => {
    const total = doc.prefixes.length + doc.ipv6_prefixes.length;
    if (total < MIN_AWS_PREFIXES) ctx.addIssue({ code: 'custom', message: `only ${total} prefixes (a real ip-ranges.json has more than ${MIN_AWS_PREFIXES})` });
    const check = (text: string, family: 'ipv4' | 'ipv6', path: (string | number)[]) => {
      const cidr = parsePublishedPrefix(text);
      if (cidr?.family !== family) ctx.addIssue({ code: 'custom', path, message: `not an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} CIDR` });
      else if (cidr.prefix < BROADEST_AWS_PREFIX[family]) ctx.addIssue({ code: 'custom', path, message: `/${cidr.prefix} is broader than any AWS range (/${BROADEST_AWS_PREFIX[family]} at most)` });
    };
    doc.prefixes.forEach((p, i) => check(p.ip_prefix, 'ipv4', ['prefixes', i, 'ip_prefix']));
    doc.ipv6_prefixes.forEach((p, i) => check(p.ipv6_prefix, 'ipv6', ['ipv6_prefixes', i, 'ipv6_prefix']));
  });

export type AwsIpRangesDocument = z.output<typeof awsIpRangesDocumentSchema>;

/** An AWS range that holds an address. */
export interface AwsRangeMatch {
  /** The most specific published prefix that holds it (canonical). */
  prefix: string;
  /** Every service that lists that prefix (AMAZON last). */
  services: string[];
  regions: string[];
}

/** One version of the ranges, indexed for lookups. */
export interface AwsIpRanges {
  syncToken: string;
  createDate: string;
  /** Where this copy came from: `bundled`, a URL, or the cache file. */
  source: string;
  prefixCount: number;
  /** The protected AWS range holding this address; undefined when none does. */
  lookup(ip: IpAddress): AwsRangeMatch | undefined;
}

/** The services and regions that list one prefix (one shared copy per distinct combination). */
interface Listing {
  /**
   * Sorted by code unit. A lookup sorts its copy by name, AMAZON last: that order uses
   * localeCompare, whose first use loads ICU's collation data (about 12 MB of RSS), and only a
   * lookup needs it, not every start.
   */
  services: readonly string[];
  /** Sorted. */
  regions: readonly string[];
}

/** One distinct published prefix while the index is built. */
interface Published {
  cidr: PrefixRange;
  /** Distinct, as listed (a prefix is listed by a few services at most). */
  services: string[];
  regions: string[];
  /** Its listing's index, once asked. */
  listing?: number;
  /** Listed by a service other than AMAZON and the blockable ones. */
  named: boolean;
  /** Listed as AMAZON (AMAZON not blockable). */
  amazon: boolean;
  /** Listed by a blockable service. */
  open: boolean;
}

/**
 * One family's prefixes, flattened into the segments they cut the address space into: sorted
 * by first address, each segment answering with the prefix a lookup names there (the same
 * for every address in it), or with none. The address space starts with a segment at 0, so
 * every address falls in exactly one: the last one that starts at or below it.
 */
interface Segments {
  /** 32-bit words per address: 1 (IPv4) or 4 (IPv6, most significant first). */
  words: number;
  /** The segments' first addresses, `words` words each. */
  starts: Uint32Array;
  /** The answering prefix's length. */
  lengths: Uint8Array;
  /** 1 + the index of the answering prefix's listing; 0 when no protected prefix holds the segment. */
  answers: Uint32Array;
}

const toWords = (value: bigint, words: number): number[] => {
  const out: number[] = [];
  for (let i = words - 1; i >= 0; i--) out.push(Number((value >> BigInt(32 * i)) & 0xffffffffn));
  return out;
};

/** The index of the segment that holds the address (given as words). */
function segmentOf(segments: Segments, key: readonly number[]): number {
  const { words, starts } = segments;
  // The last segment whose start is <= key; segment 0 starts at 0.
  let lo = 0;
  let hi = starts.length / words - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    let cmp = 0;
    for (let w = 0; w < words && cmp === 0; w++) cmp = starts[mid * words + w]! - key[w]!;
    if (cmp <= 0) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Flattens one family's prefixes (distinct) into segments. CIDRs either nest or do not meet, so
 * sorted by first address (broader first) a stack holds the prefixes around the current
 * address. The answer there follows the protection rule: the most specific named-service prefix;
 * failing that, the most specific AMAZON prefix unless a blockable service's prefix also holds
 * the address.
 */
function flatten(family: IpFamily, prefixes: Published[], listingOf: (p: Published) => number): Segments {
  const bits = bitsOf(family);
  const max = (1n << BigInt(bits)) - 1n;
  prefixes.sort((a, b) => (a.cidr.first < b.cidr.first ? -1 : a.cidr.first > b.cidr.first ? 1 : a.cidr.prefix - b.cidr.prefix));
  interface Frame {
    last: bigint;
    named: Published | undefined;
    amazon: Published | undefined;
    open: boolean;
  }
  const stack: Frame[] = [];
  const cuts: { start: bigint; answer: Published | undefined }[] = [];
  const mark = (start: bigint) => {
    const top = stack.at(-1);
    const answer = top ? (top.named ?? (top.open ? undefined : top.amazon)) : undefined;
    const previous = cuts.at(-1);
    if (previous?.start === start) previous.answer = answer;
    else cuts.push({ start, answer });
  };
  const closeBefore = (first: bigint) => {
    while (stack.length > 0 && stack.at(-1)!.last < first) {
      const end = stack.pop()!.last;
      if (end < max) mark(end + 1n);
    }
  };
  mark(0n);
  for (const p of prefixes) {
    closeBefore(p.cidr.first);
    const around = stack.at(-1);
    stack.push({
      last: p.cidr.last,
      named: p.named ? p : around?.named,
      amazon: p.amazon ? p : around?.amazon,
      open: p.open || (around?.open ?? false),
    });
    mark(p.cidr.first);
  }
  closeBefore(max + 1n);
  const kept = cuts.filter((cut, i) => i === 0 || cut.answer !== cuts[i - 1]!.answer);

  const words = bits / 32;
  const starts = new Uint32Array(kept.length * words);
  const lengths = new Uint8Array(kept.length);
  const answers = new Uint32Array(kept.length);
  kept.forEach((cut, i) => {
    starts.set(toWords(cut.start, words), i * words);
    if (cut.answer) {
      lengths[i] = cut.answer.cidr.prefix;
      answers[i] = listingOf(cut.answer) + 1;
    }
  });
  return { words, starts, lengths, answers };
}

const byServiceName = (a: string, b: string): number => (a === 'AMAZON' ? 1 : b === 'AMAZON' ? -1 : a.localeCompare(b));

/**
 * Indexes a validated document. `blockableServices`: services whose addresses stay blockable.
 * The index keeps no prefix objects: per family, sorted typed arrays of segments (a few hundred
 * KB for AWS's 16,000-odd prefixes), and one shared listing per distinct set of services and
 * regions; a lookup is a binary search.
 */
export function indexAwsIpRanges(doc: AwsIpRangesDocument, options: { source: string; blockableServices: readonly string[] }): AwsIpRanges {
  const blockable = new Set(options.blockableServices.map((s) => s.toUpperCase()));
  const published = new Map<string, Published>();
  const add = (text: string, service: string, region: string) => {
    const cidr = parsePublishedPrefix(text);
    if (!cidr) return;
    const s = service.toUpperCase();
    const key = `${cidr.family === 'ipv4' ? '4' : '6'}${cidr.first}/${cidr.prefix}`;
    let p = published.get(key);
    if (!p) published.set(key, (p = { cidr, services: [], regions: [], named: false, amazon: false, open: false }));
    if (!p.services.includes(s)) p.services.push(s);
    if (!p.regions.includes(region)) p.regions.push(region);
    if (blockable.has(s)) p.open = true;
    else if (s === 'AMAZON') p.amazon = true;
    else p.named = true;
  };
  for (const p of doc.prefixes) add(p.ip_prefix, p.service, p.region);
  for (const p of doc.ipv6_prefixes) add(p.ipv6_prefix, p.service, p.region);

  const listings: Listing[] = [];
  const listingIds = new Map<string, number>();
  const listingOf = (p: Published): number => {
    if (p.listing !== undefined) return p.listing;
    const services = [...p.services].sort();
    const regions = [...p.regions].sort();
    const key = JSON.stringify([services, regions]);
    let id = listingIds.get(key);
    if (id === undefined) {
      listingIds.set(key, (id = listings.length));
      listings.push({ services: Object.freeze(services), regions: Object.freeze(regions) });
    }
    return (p.listing = id);
  };
  const all = [...published.values()];
  const segments: Record<IpFamily, Segments> = {
    ipv4: flatten('ipv4', all.filter((p) => p.cidr.family === 'ipv4'), listingOf),
    ipv6: flatten('ipv6', all.filter((p) => p.cidr.family === 'ipv6'), listingOf),
  };
  return compactRanges({ syncToken: doc.syncToken, createDate: doc.createDate, source: options.source, prefixCount: doc.prefixes.length + doc.ipv6_prefixes.length }, segments, listings);
}

/**
 * The index's lookups over the segments alone. Built apart from indexAwsIpRanges so that its
 * closure holds nothing of what building took (a closure keeps every variable its enclosing
 * function shares with any of its closures).
 */
function compactRanges(about: Omit<AwsIpRanges, 'lookup'>, segments: Record<IpFamily, Segments>, listings: readonly Listing[]): AwsIpRanges {
  return {
    ...about,
    lookup(ip) {
      const family = ip.family === 'ipv4' || ip.family === 'ipv6' ? segments[ip.family] : undefined;
      if (!family) return undefined;
      const i = segmentOf(family, toWords(BigInt.asUintN(family.words * 32, ip.value), family.words));
      const answer = family.answers[i]!;
      if (answer === 0) return undefined;
      const listing = listings[answer - 1]!;
      return { prefix: cidrOf(ip, family.lengths[i]!).text, services: [...listing.services].sort(byServiceName), regions: [...listing.regions] };
    },
  };
}

/** Parses and validates ip-ranges.json text: the document, or why it is not one. */
export function parseAwsIpRanges(text: string): { ok: true; doc: AwsIpRangesDocument } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not JSON (${(err as Error).message})` };
  }
  const parsed = awsIpRangesDocumentSchema.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'document'}: ${i.message}`).join('; ');
    return { ok: false, reason: `not a valid ip-ranges.json (${why})` };
  }
  return { ok: true, doc: parsed.data };
}

const bundledIndexes = new Map<string, AwsIpRanges>();

/**
 * The copy that ships with sentinel, read and parsed at each call: nothing keeps the document
 * (about 2.4 MB of heap), only the index built from it (bundledAwsIpRanges). A broken copy is a
 * ConfigError: protection must not silently shrink.
 */
export function bundledAwsIpRangesDocument(): AwsIpRangesDocument {
  const file = AWS_IP_RANGES_FILE();
  const parsed = parseAwsIpRanges(readFileSync(file, 'utf8'));
  if (!parsed.ok) throw new ConfigError(`the bundled AWS ranges ${file} are ${parsed.reason}`);
  return parsed.doc;
}

/** The bundled copy, indexed (cached per set of blockable services). */
export function bundledAwsIpRanges(blockableServices: readonly string[]): AwsIpRanges {
  const key = [...blockableServices].map((s) => s.toUpperCase()).sort().join(',');
  let ranges = bundledIndexes.get(key);
  if (!ranges) {
    ranges = indexAwsIpRanges(bundledAwsIpRangesDocument(), { source: 'bundled', blockableServices });
    bundledIndexes.set(key, ranges);
  }
  return ranges;
}

/** Where actions read the current ranges from (the bot's refreshing holder, or the bundled copy). */
export interface AwsIpRangesSource {
  current(): AwsIpRanges;
}

/** How a range match reads in a refusal: `52.95.110.0/24 (ROUTE53, AMAZON; GLOBAL)`. */
export function describeAwsRange(match: AwsRangeMatch): string {
  return `${match.prefix} (${match.services.join(', ')}; ${match.regions.join(', ')})`;
}
