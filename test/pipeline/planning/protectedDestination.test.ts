import { describe, expect, it } from 'vitest';
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
});
