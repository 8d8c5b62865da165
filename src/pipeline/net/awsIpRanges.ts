import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { packageRoot } from '../../util/packageRoot.js';
import { cidrOf, parseCidr, type Cidr, type IpAddress, type IpFamily } from './ipAddress.js';

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
      const cidr = parseCidr(text);
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

interface Entry {
  cidr: Cidr;
  services: Set<string>;
  regions: Set<string>;
}

/** Prefixes by family and length, for longest-prefix lookups. */
class PrefixIndex {
  private readonly byLength = new Map<IpFamily, Map<number, Map<bigint, Entry>>>();

  add(cidr: Cidr, service: string, region: string): void {
    let lengths = this.byLength.get(cidr.family);
    if (!lengths) this.byLength.set(cidr.family, (lengths = new Map()));
    let nets = lengths.get(cidr.prefix);
    if (!nets) lengths.set(cidr.prefix, (nets = new Map()));
    const entry = nets.get(cidr.first) ?? { cidr, services: new Set<string>(), regions: new Set<string>() };
    entry.services.add(service);
    entry.regions.add(region);
    nets.set(cidr.first, entry);
  }

  /** The entry of exactly this prefix. */
  get(cidr: Cidr): Entry | undefined {
    return this.byLength.get(cidr.family)?.get(cidr.prefix)?.get(cidr.first);
  }

  /** The most specific prefix holding the address. */
  match(ip: IpAddress): Entry | undefined {
    const lengths = this.byLength.get(ip.family);
    if (!lengths) return undefined;
    const sorted = [...lengths.keys()].sort((a, b) => b - a);
    for (const prefix of sorted) {
      const hit = lengths.get(prefix)!.get(cidrOf(ip, prefix).first);
      if (hit) return hit;
    }
    return undefined;
  }
}

/** Indexes a validated document. `blockableServices`: services whose addresses stay blockable. */
export function indexAwsIpRanges(doc: AwsIpRangesDocument, options: { source: string; blockableServices: readonly string[] }): AwsIpRanges {
  const blockable = new Set(options.blockableServices.map((s) => s.toUpperCase()));
  const named = new PrefixIndex(); // every service but AMAZON and the blockable ones
  const amazon = new PrefixIndex(); // AMAZON: all of Amazon's space
  const open = new PrefixIndex(); // the blockable services' prefixes
  const all = new PrefixIndex(); // every listing, to name every service of a matched prefix
  const add = (text: string, service: string, region: string) => {
    const cidr = parseCidr(text);
    if (!cidr) return;
    const s = service.toUpperCase();
    all.add(cidr, s, region);
    if (blockable.has(s)) open.add(cidr, s, region);
    else if (s === 'AMAZON') amazon.add(cidr, s, region);
    else named.add(cidr, s, region);
  };
  for (const p of doc.prefixes) add(p.ip_prefix, p.service, p.region);
  for (const p of doc.ipv6_prefixes) add(p.ipv6_prefix, p.service, p.region);

  const describe = (entry: Entry): AwsRangeMatch => {
    const same = all.get(entry.cidr) ?? entry;
    const services = [...same.services].sort((a, b) => (a === 'AMAZON' ? 1 : b === 'AMAZON' ? -1 : a.localeCompare(b)));
    return { prefix: entry.cidr.text, services, regions: [...same.regions].sort() };
  };
  return {
    syncToken: doc.syncToken,
    createDate: doc.createDate,
    source: options.source,
    prefixCount: doc.prefixes.length + doc.ipv6_prefixes.length,
    lookup(ip) {
      const hit = named.match(ip);
      if (hit) return describe(hit);
      const own = amazon.match(ip);
      if (own && !open.match(ip)) return describe(own);
      return undefined;
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

let bundledDoc: AwsIpRangesDocument | undefined;
const bundledIndexes = new Map<string, AwsIpRanges>();

/** The copy that ships with sentinel (read once). A broken copy is a ConfigError: protection must not silently shrink. */
export function bundledAwsIpRangesDocument(): AwsIpRangesDocument {
  if (bundledDoc) return bundledDoc;
  const file = AWS_IP_RANGES_FILE();
  const parsed = parseAwsIpRanges(readFileSync(file, 'utf8'));
  if (!parsed.ok) throw new ConfigError(`the bundled AWS ranges ${file} are ${parsed.reason}`);
  bundledDoc = parsed.doc;
  return bundledDoc;
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
