import { describe, expect, it } from 'vitest';
import { bundledAwsIpRanges, bundledAwsIpRangesDocument, indexAwsIpRanges } from '../../../src/pipeline/net/awsIpRanges.js';
import { checkProtectedDestination } from '../../../src/pipeline/planning/protectedDestination.js';

describe('checkProtectedDestination', () => {
  it.each([
    ['10.1.2.3', /private/],
    ['172.20.0.1', /private/],
    ['192.168.1.1', /private/],
    ['127.0.0.1', /loopback/],
    ['169.254.169.254', /link-local/],
    ['224.0.0.251', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['100.64.1.1', /shared/],
    ['::1', /loopback/],
    ['fe80::1', /link-local/],
    ['fd12:3456::1', /unique local/],
    ['ff02::1', /multicast/],
    ['::ffff:10.0.0.1', /private/],
    ['not-an-ip', /not an IP/],
  ])('refuses %s', (ip, reason) => {
    const r = checkProtectedDestination(ip);
    expect(r.protected).toBe(true);
    expect(r.reason).toMatch(reason);
  });

  it.each(['203.0.113.45', '8.8.8.8', '2001:db8::7', '2600:1f18::1'])('allows public %s', (ip) => {
    expect(checkProtectedDestination(ip)).toEqual({ protected: false });
  });

  it("refuses the VPC's own ranges and the allowlist", () => {
    expect(checkProtectedDestination('203.0.113.45', { vpcCidrs: ['203.0.113.0/24'] }).reason).toMatch(/VPC's own range/);
    expect(checkProtectedDestination('8.8.8.8', { allowlist: ['8.8.8.0/24'] }).reason).toMatch(/allowlist \(8.8.8.0\/24\)/);
    expect(checkProtectedDestination('2001:db8::7', { allowlist: ['2001:db8::/32'] }).protected).toBe(true);
  });

  it.each([
    ['::ffff:a00:1', /^::ffff:a00:1 \(IPv4-mapped 10\.0\.0\.1\) is private \(10\.0\.0\.0\/8\)$/],
    ['64:ff9b::a00:1', /^64:ff9b::a00:1 is the NAT64 form of 10\.0\.0\.1, which is private \(10\.0\.0\.0\/8\)$/],
    ['2002:a00:1::', /^2002:a00:1:: is the 6to4 form of 10\.0\.0\.1, which is private \(10\.0\.0\.0\/8\)$/],
    ['::a00:1', /IPv4-compatible form of 10\.0\.0\.1, which is private/],
    ['64:ff9b::a9fe:a9fe', /NAT64 form of 169\.254\.169\.254, which is link-local/],
    ['2001:0:4136:e378:8000:63bf:f5ff:fffe', /Teredo client form of 10\.0\.0\.1, which is private/],
  ])('refuses %s as the private address it carries', (ip, reason) => {
    const r = checkProtectedDestination(ip);
    expect(r.protected).toBe(true);
    expect(r.reason).toMatch(reason);
  });

  it("refuses AWS's published ranges by default, naming the range and the service: 52.95.110.1 is Route 53", () => {
    const r = checkProtectedDestination('52.95.110.1');
    expect(r.protected).toBe(true);
    const doc = bundledAwsIpRangesDocument();
    expect(r.reason).toBe(`52.95.110.1 is in AWS's published range 52.95.110.0/24 (ROUTE53, AMAZON; GLOBAL), ip-ranges.json ${doc.syncToken} (bundled)`);
    // The same address in a NAT64 or IPv4-mapped form.
    expect(checkProtectedDestination('64:ff9b::345f:6e01').reason).toMatch(/NAT64 form of 52\.95\.110\.1, which is in AWS's published range 52\.95\.110\.0\/24 \(ROUTE53/);
    expect(checkProtectedDestination('::ffff:52.95.110.1').protected).toBe(true);
    // An AWS IPv6 service range.
    const s3v6 = doc.ipv6_prefixes.find((p) => p.service === 'S3')!;
    const inside = s3v6.ipv6_prefix.replace(/::\/\d+$/, '::1');
    expect(checkProtectedDestination(inside).reason).toMatch(/S3/);
  });

  it("keeps customers' EC2 addresses blockable (an attacker's server can run there), unless EC2 is not listed as blockable", () => {
    const doc = bundledAwsIpRangesDocument();
    const ec2Only = doc.prefixes.find((p) => p.service === 'EC2' && !doc.prefixes.some((q) => q.ip_prefix === p.ip_prefix && q.service !== 'EC2' && q.service !== 'AMAZON'))!;
    const ip = ec2Only.ip_prefix.replace(/\.0\/\d+$/, '.9');
    expect(checkProtectedDestination(ip, { awsRanges: bundledAwsIpRanges(['EC2']) })).toEqual({ protected: false });
    const strict = checkProtectedDestination(ip, { awsRanges: indexAwsIpRanges(doc, { source: 'bundled', blockableServices: [] }) });
    expect(strict.protected).toBe(true);
    expect(strict.reason).toMatch(/EC2/);
  });

  it('judges the allowlist and the VPC ranges through mapped forms too', () => {
    expect(checkProtectedDestination('::ffff:8.8.8.8', { allowlist: ['8.8.8.0/24'] }).reason).toMatch(/allowlist \(8\.8\.8\.0\/24\)/);
    expect(checkProtectedDestination('64:ff9b::cb00:712d', { vpcCidrs: ['203.0.113.0/24'] }).reason).toMatch(/NAT64 form of 203\.0\.113\.45, which is in the VPC's own range/);
  });

  it("leaves AWS's ranges out when asked (analysis only asks whether an address is private or special)", () => {
    expect(checkProtectedDestination('52.95.110.1', { awsRanges: null })).toEqual({ protected: false });
  });
});
