import { BlockList, isIP } from 'node:net';

/** Ranges no egress deny may target: private, shared, loopback, link-local, multicast, reserved. */
const BUILT_IN: readonly [string, number, 'ipv4' | 'ipv6', string][] = [
  ['0.0.0.0', 8, 'ipv4', '"this network" (0.0.0.0/8)'],
  ['10.0.0.0', 8, 'ipv4', 'private (10.0.0.0/8)'],
  ['100.64.0.0', 10, 'ipv4', 'shared address space (100.64.0.0/10)'],
  ['127.0.0.0', 8, 'ipv4', 'loopback (127.0.0.0/8)'],
  ['169.254.0.0', 16, 'ipv4', 'link-local (169.254.0.0/16, includes the instance metadata service)'],
  ['172.16.0.0', 12, 'ipv4', 'private (172.16.0.0/12)'],
  ['192.0.0.0', 24, 'ipv4', 'IETF protocol assignments (192.0.0.0/24)'],
  ['192.168.0.0', 16, 'ipv4', 'private (192.168.0.0/16)'],
  ['198.18.0.0', 15, 'ipv4', 'benchmarking (198.18.0.0/15)'],
  ['224.0.0.0', 4, 'ipv4', 'multicast (224.0.0.0/4)'],
  ['240.0.0.0', 4, 'ipv4', 'reserved and broadcast (240.0.0.0/4)'],
  ['::', 128, 'ipv6', 'unspecified (::)'],
  ['::1', 128, 'ipv6', 'loopback (::1)'],
  ['fc00::', 7, 'ipv6', 'unique local (fc00::/7)'],
  ['fe80::', 10, 'ipv6', 'link-local (fe80::/10)'],
  ['ff00::', 8, 'ipv6', 'multicast (ff00::/8)'],
  ['fd00:ec2::', 32, 'ipv6', 'EC2 IPv6 services (fd00:ec2::/32)'],
];

export interface ProtectionCheck {
  protected: boolean;
  /** Why, when protected. */
  reason?: string;
}

function parseCidr(cidr: string): { ip: string; bits: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [ip, bits] = cidr.split('/');
  const family = ip ? isIP(ip) : 0;
  if (!ip || family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  const b = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(b) || b < 0 || b > max) return undefined;
  return { ip, bits: b, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), if it is one. */
function mappedIpv4(ip: string): string | undefined {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m?.[1];
}

/**
 * Whether an egress deny may target this IP. Refuses built-in special ranges,
 * the VPC's own CIDRs and a configured allowlist, naming the range that matched.
 */
export function checkProtectedDestination(ip: string, opts: { vpcCidrs?: readonly string[]; allowlist?: readonly string[] } = {}): ProtectionCheck {
  const family = isIP(ip);
  if (family === 0) return { protected: true, reason: `${ip} is not an IP address` };
  const v4 = family === 6 ? mappedIpv4(ip) : undefined;
  if (v4) return checkProtectedDestination(v4, opts);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [net, bits, fam, why] of BUILT_IN) {
    if (fam !== type) continue;
    const list = new BlockList();
    list.addSubnet(net, bits, fam);
    if (list.check(ip, type)) return { protected: true, reason: `${ip} is ${why}` };
  }
  const groups: [readonly string[] | undefined, string][] = [
    [opts.vpcCidrs, "in the VPC's own range"],
    [opts.allowlist, 'on the egress allowlist'],
  ];
  for (const [cidrs, label] of groups) {
    for (const cidr of cidrs ?? []) {
      const c = parseCidr(cidr);
      if (!c || c.family !== type) continue;
      const list = new BlockList();
      list.addSubnet(c.ip, c.bits, c.family);
      if (list.check(ip, type)) return { protected: true, reason: `${ip} is ${label} (${cidr})` };
    }
  }
  return { protected: false };
}
