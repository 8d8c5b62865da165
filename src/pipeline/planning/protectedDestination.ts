import { bundledAwsIpRanges, describeAwsRange, type AwsIpRanges } from '../net/awsIpRanges.js';
import { cidrContains, ipv4Readings, parseCidr, parseIpAddress, type Cidr, type IpAddress } from '../net/ipAddress.js';

/** Ranges no egress deny may target: private, shared, loopback, link-local, multicast, reserved. */
const BUILT_IN: readonly (readonly [string, string])[] = [
  ['0.0.0.0/8', '"this network" (0.0.0.0/8)'],
  ['10.0.0.0/8', 'private (10.0.0.0/8)'],
  ['100.64.0.0/10', 'shared address space (100.64.0.0/10)'],
  ['127.0.0.0/8', 'loopback (127.0.0.0/8)'],
  ['169.254.0.0/16', 'link-local (169.254.0.0/16, includes the instance metadata service)'],
  ['172.16.0.0/12', 'private (172.16.0.0/12)'],
  ['192.0.0.0/24', 'IETF protocol assignments (192.0.0.0/24)'],
  ['192.168.0.0/16', 'private (192.168.0.0/16)'],
  ['198.18.0.0/15', 'benchmarking (198.18.0.0/15)'],
  ['224.0.0.0/4', 'multicast (224.0.0.0/4)'],
  ['240.0.0.0/4', 'reserved and broadcast (240.0.0.0/4)'],
  ['::/128', 'unspecified (::)'],
  ['::1/128', 'loopback (::1)'],
  ['fc00::/7', 'unique local (fc00::/7)'],
  ['fe80::/10', 'link-local (fe80::/10)'],
  ['ff00::/8', 'multicast (ff00::/8)'],
  ['fd00:ec2::/32', 'EC2 IPv6 services (fd00:ec2::/32)'],
];

const BUILT_IN_RANGES: readonly (readonly [Cidr, string])[] = BUILT_IN.map(([cidr, why]) => [parseCidr(cidr)!, why] as const);

export interface ProtectionCheck {
  protected: boolean;
  /** Why, when protected. */
  reason?: string;
}

export interface ProtectionOptions {
  /** The VPC's own CIDRs. */
  vpcCidrs?: readonly string[];
  /** SENTINEL_EGRESS_ALLOWLIST. */
  allowlist?: readonly string[];
  /** AWS's published ranges; the bundled copy (EC2 blockable) when absent; null to leave AWS's ranges out (analysis asks "private or special?"). */
  awsRanges?: AwsIpRanges | null;
}

/** Why one address (the target itself, or an IPv4 address it carries) is protected; undefined if it is not. */
function whyProtected(ip: IpAddress, opts: ProtectionOptions, aws: AwsIpRanges | null): string | undefined {
  for (const [cidr, why] of BUILT_IN_RANGES) if (cidrContains(cidr, ip)) return why;
  const groups: [readonly string[] | undefined, string][] = [
    [opts.vpcCidrs, "in the VPC's own range"],
    [opts.allowlist, 'on the egress allowlist'],
  ];
  for (const [cidrs, label] of groups) {
    for (const text of cidrs ?? []) {
      const cidr = parseCidr(text);
      if (cidr && cidrContains(cidr, ip)) return `${label} (${cidr.text})`;
    }
  }
  const range = aws?.lookup(ip);
  if (aws && range) return `in AWS's published range ${describeAwsRange(range)}, ip-ranges.json ${aws.syncToken} (${aws.source})`;
  return undefined;
}

/**
 * Whether an egress deny (or the malicious-IP list) may target this IP. Refuses built-in
 * special ranges, the VPC's own CIDRs, a configured allowlist and AWS's published service
 * ranges, naming the range that matched. Every form that carries an IPv4 address is judged as
 * that address too (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64, 6to4, Teredo server
 * and client): `::ffff:a00:1`, `64:ff9b::a00:1` and `2002:a00:1::` are all 10.0.0.1, private.
 */
export function checkProtectedDestination(ip: string, opts: ProtectionOptions = {}): ProtectionCheck {
  const parsed = parseIpAddress(ip);
  if (!parsed) return { protected: true, reason: `${ip} is not an IP address` };
  const aws = opts.awsRanges === null ? null : (opts.awsRanges ?? bundledAwsIpRanges(['EC2']));
  const shown = parsed.text === ip ? ip : `${ip} (${parsed.family === 'ipv4' && ip.includes(':') ? 'IPv4-mapped ' : ''}${parsed.text})`;
  const own = whyProtected(parsed, opts, aws);
  if (own) return { protected: true, reason: `${shown} is ${own}` };
  for (const reading of ipv4Readings(parsed)) {
    const why = whyProtected(reading.ipv4, opts, aws);
    if (why) return { protected: true, reason: `${shown} is the ${reading.form} form of ${reading.ipv4.text}, which is ${why}` };
  }
  return { protected: false };
}
