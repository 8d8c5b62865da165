/**
 * The compact index of AWS's ranges (sorted segments in typed arrays, one shared listing per
 * set of services and regions) answers every lookup exactly as the protection rule says, checked
 * against a straightforward reference: scan every listing that holds the address, take the most
 * specific named-service prefix, else the most specific AMAZON prefix unless a blockable
 * service's prefix also holds the address, and name every service and region of that prefix.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { bundledAwsIpRangesDocument, indexAwsIpRanges, parsePublishedPrefix, type AwsIpRangesDocument, type AwsRangeMatch } from '../../../src/pipeline/net/awsIpRanges.js';
import { bitsOf, cidrContains, cidrOf, parseCidr, type Cidr, type IpAddress, type IpFamily } from '../../../src/pipeline/net/ipAddress.js';

interface Listed {
  cidr: Cidr;
  service: string;
  region: string;
}

const listingsOf = (doc: AwsIpRangesDocument): Listed[] =>
  [...doc.prefixes.map((p) => [p.ip_prefix, p] as const), ...doc.ipv6_prefixes.map((p) => [p.ipv6_prefix, p] as const)].flatMap(([text, p]) => {
    const cidr = parseCidr(text);
    return cidr ? [{ cidr, service: p.service.toUpperCase(), region: p.region }] : [];
  });

/** The rule, by scanning every listing. */
function referenceLookup(listed: readonly Listed[], blockableServices: readonly string[], ip: IpAddress): AwsRangeMatch | undefined {
  const blockable = new Set(blockableServices.map((s) => s.toUpperCase()));
  const holding = listed.filter((l) => cidrContains(l.cidr, ip));
  const longest = (ls: Listed[]) => ls.reduce<Listed | undefined>((best, l) => (!best || l.cidr.prefix > best.cidr.prefix ? l : best), undefined);
  const named = longest(holding.filter((l) => !blockable.has(l.service) && l.service !== 'AMAZON'));
  const amazon = longest(holding.filter((l) => l.service === 'AMAZON' && !blockable.has(l.service)));
  const open = holding.some((l) => blockable.has(l.service));
  const hit = named ?? (amazon && !open ? amazon : undefined);
  if (!hit) return undefined;
  const same = listed.filter((l) => l.cidr.text === hit.cidr.text);
  const services = [...new Set(same.map((l) => l.service))].sort((a, b) => (a === 'AMAZON' ? 1 : b === 'AMAZON' ? -1 : a.localeCompare(b)));
  return { prefix: hit.cidr.text, services, regions: [...new Set(same.map((l) => l.region))].sort() };
}

const address = (family: IpFamily, value: bigint): IpAddress => ({ text: cidrOf({ text: '', family, value }, bitsOf(family)).text.replace(/\/\d+$/, ''), family, value });

/** Addresses at and around each listed prefix's edges and middle. */
function edgesOf(listed: readonly Listed[]): IpAddress[] {
  return listed.flatMap(({ cidr }) => {
    const max = (1n << BigInt(bitsOf(cidr.family))) - 1n;
    return [cidr.first - 1n, cidr.first, cidr.first + 1n, (cidr.first + cidr.last) / 2n, cidr.last - 1n, cidr.last, cidr.last + 1n]
      .filter((v) => v >= 0n && v <= max)
      .map((v) => address(cidr.family, v));
  });
}

const doc = (prefixes: { text: string; service: string; region: string }[]): AwsIpRangesDocument => ({
  syncToken: '1700000000',
  createDate: '2026-01-01-00-00-00',
  prefixes: prefixes.filter((p) => !p.text.includes(':')).map((p) => ({ ip_prefix: p.text, service: p.service, region: p.region })),
  ipv6_prefixes: prefixes.filter((p) => p.text.includes(':')).map((p) => ({ ipv6_prefix: p.text, service: p.service, region: p.region })),
});

// Small value sets, so that random prefixes nest, repeat and share edges.
const octet = fc.constantFrom(0, 1, 10, 52, 127, 128, 254, 255);
const v4Text = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const group = fc.constantFrom(0, 1, 0x2600, 0x8000, 0xfffe, 0xffff).map((g) => g.toString(16));
const v6Text = fc.array(group, { minLength: 8, maxLength: 8 }).map((g) => g.join(':'));
const length = (bits: number) => fc.oneof(fc.constantFrom(0, 1, bits / 2, bits - 1, bits), fc.integer({ min: 0, max: bits }));
/** IPv6 text in any spelling: groups with or without leading zeros, either case, one run compressed to `::` or none. */
const v6Spelling = fc
  .record({
    groups: fc.array(fc.constantFrom(0, 1, 0xa, 0xff, 0x2600, 0xffff, 0x1f14), { minLength: 8, maxLength: 8 }),
    run: fc.tuple(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 8 })),
    pad: fc.boolean(),
    upper: fc.boolean(),
  })
  .map(({ groups, run: [from, count], pad, upper }) => {
    const hex = groups.map((g) => (pad ? g.toString(16).padStart(4, '0') : g.toString(16))).map((g) => (upper ? g.toUpperCase() : g));
    const text = count === 0 ? hex.join(':') : `${hex.slice(0, from).join(':')}::${hex.slice(Math.min(8, from + count)).join(':')}`;
    return text;
  });
const spelling = fc.oneof(
  fc.tuple(fc.constantFrom('0', '1', '10', '52', '255', '256', '999', '01', '00'), fc.constantFrom('0', '95', '255', '300')).map(([a, b]) => `${a}.${b}.${b}.${a}`),
  v6Spelling,
  v4Text.map((a) => `::ffff:${a}`),
  v4Text.map((a) => `64:ff9b::${a}`),
  fc.constantFrom('::', '::1', ':::', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '::ffff:0:0', 'ffff::', ' 10.0.0.0', 'g::'),
);
const prefixSpelling = fc.oneof(
  fc.tuple(spelling, fc.oneof(fc.integer({ min: 0, max: 140 }).map(String), fc.constantFrom('08', '', '-1', '1 '))).map(([a, n]) => `${a}/${n}`),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:./ '), maxLength: 45 }),
);

const prefixText = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(v4Text, length(32)).map(([a, n]) => `${a}/${n}`) },
  { weight: 3, arbitrary: fc.tuple(v6Text, length(128)).map(([a, n]) => `${a}/${n}`) },
  // IPv4-mapped IPv6: /96 and longer is the IPv4 range, shorter stays IPv6.
  { weight: 2, arbitrary: fc.tuple(v4Text, fc.integer({ min: 80, max: 128 })).map(([a, n]) => `::ffff:${a}/${n}`) },
  // Other spellings of the same ranges, and not CIDRs at all (skipped).
  { weight: 1, arbitrary: prefixSpelling },
  { weight: 1, arbitrary: fc.constantFrom('10.0.0.0/33', '::/129', 'nonsense', '010.0.0.0/8') },
);
const listing = fc.record({
  text: prefixText,
  // Names where localeCompare and code-unit order disagree ('_' against a letter or digit) among them.
  service: fc.constantFrom('AMAZON', 'amazon', 'EC2', 'ec2', 'S3', 'ROUTE53', 'CLOUDFRONT', 'GLOBALACCELERATOR', 'AMAZON_CONNECT', 'AMAZONMQ', 'ROUTE53_HEALTHCHECKS', 'ROUTE53X', 'EC2_INSTANCE_CONNECT'),
  region: fc.constantFrom('GLOBAL', 'us-east-1', 'eu-west-1', 'ap-northeast-2'),
});
const blockableServices = fc.subarray(['EC2', 'ec2', 'AMAZON', 'S3', 'CLOUDFRONT']);
const randomAddress = fc.oneof(
  fc.tuple(v4Text).map(([t]) => parseCidr(`${t}/32`)!).map((c) => address('ipv4', c.first)),
  fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((v) => address('ipv4', v)),
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((v) => address('ipv6', v)),
  fc.tuple(v6Text).map(([t]) => parseCidr(`${t}/128`)!).map((c) => address(c.family, c.first)),
  // An IPv6 address in the IPv4-mapped space, kept IPv6 (parseIpAddress would make it IPv4).
  fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }).map((v) => address('ipv6', (0xffffn << 32n) | v)),
);

describe('parsePublishedPrefix', () => {
  it('reads every spelling exactly as parseCidr does (the same family, length, first and last address, or none)', () => {
    fc.assert(
      fc.property(prefixSpelling, (text) => {
        const cidr = parseCidr(text);
        expect(parsePublishedPrefix(text), text).toEqual(cidr && { family: cidr.family, prefix: cidr.prefix, first: cidr.first, last: cidr.last });
      }),
      { numRuns: 5000 },
    );
  });

  it('reads every prefix of the bundled ip-ranges.json as parseCidr does', () => {
    const bundled = bundledAwsIpRangesDocument();
    for (const text of [...bundled.prefixes.map((p) => p.ip_prefix), ...bundled.ipv6_prefixes.map((p) => p.ipv6_prefix)]) {
      const cidr = parseCidr(text)!;
      expect(parsePublishedPrefix(text), text).toEqual({ family: cidr.family, prefix: cidr.prefix, first: cidr.first, last: cidr.last });
    }
  });
});

describe('indexAwsIpRanges', () => {
  it('answers every lookup as the reference does, over random overlapping prefixes (with /0, /32, /128 and IPv4-mapped IPv6)', () => {
    fc.assert(
      fc.property(fc.array(listing, { maxLength: 40 }), blockableServices, fc.array(randomAddress, { maxLength: 40 }), (listings, blockable, extra) => {
        const document = doc(listings);
        const index = indexAwsIpRanges(document, { source: 'test', blockableServices: blockable });
        const listed = listingsOf(document);
        for (const ip of [...edgesOf(listed), ...extra]) expect(index.lookup(ip), `${ip.family} ${ip.text}`).toEqual(referenceLookup(listed, blockable, ip));
      }),
      { numRuns: 300 },
    );
  });

  it('answers as the reference does over the bundled ip-ranges.json, with EC2 blockable and with nothing blockable', () => {
    const bundled = bundledAwsIpRangesDocument();
    const listed = listingsOf(bundled);
    // Every 40th listing's edges, and a spread of addresses across both families.
    const probes = [...edgesOf(listed.filter((_, i) => i % 40 === 0)), ...fc.sample(randomAddress, { numRuns: 200, seed: 15 })];
    let protectedSeen = 0;
    for (const blockable of [['EC2'], []]) {
      const index = indexAwsIpRanges(bundled, { source: 'bundled', blockableServices: blockable });
      expect(index.prefixCount).toBe(bundled.prefixes.length + bundled.ipv6_prefixes.length);
      for (const ip of probes) {
        const expected = referenceLookup(listed, blockable, ip);
        if (expected) protectedSeen += 1;
        expect(index.lookup(ip), `${ip.text} with ${blockable.join(',') || 'nothing'} blockable`).toEqual(expected);
      }
    }
    // The probes reach into protected ranges, not only around them.
    expect(protectedSeen).toBeGreaterThan(500);
  });

  it('gives each caller its own arrays of services and regions', () => {
    const index = indexAwsIpRanges(doc([{ text: '52.95.110.0/24', service: 'ROUTE53', region: 'GLOBAL' }, { text: '52.95.110.0/24', service: 'AMAZON', region: 'GLOBAL' }]), { source: 'test', blockableServices: ['EC2'] });
    const ip = address('ipv4', parseCidr('52.95.110.1/32')!.first);
    const first = index.lookup(ip)!;
    first.services.push('MUTATED');
    first.regions.length = 0;
    expect(index.lookup(ip)).toEqual({ prefix: '52.95.110.0/24', services: ['ROUTE53', 'AMAZON'], regions: ['GLOBAL'] });
  });

  it("builds without localeCompare (whose first use loads ICU's collation data, about 12 MB of RSS); only a lookup orders services with it", () => {
    const spy = vi.spyOn(String.prototype, 'localeCompare');
    try {
      const listings = [
        { text: '52.95.110.0/24', service: 'ROUTE53_HEALTHCHECKS', region: 'GLOBAL' },
        { text: '52.95.110.0/24', service: 'ROUTE53', region: 'GLOBAL' },
        { text: '52.95.110.0/24', service: 'AMAZON', region: 'GLOBAL' },
      ];
      const index = indexAwsIpRanges(doc(listings), { source: 'test', blockableServices: ['EC2'] });
      expect(spy).not.toHaveBeenCalled();
      const ip = address('ipv4', parseCidr('52.95.110.1/32')!.first);
      expect(index.lookup(ip)).toEqual(referenceLookup(listingsOf(doc(listings)), ['EC2'], ip));
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });
});
