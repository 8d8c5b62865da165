/**
 * sentinel's one IP module (ipaddr.js underneath): strict parsing, the canonical text form, CIDRs,
 * and the IPv4 address that IPv6 forms carry. Properties with fast-check: the canonical form
 * round-trips, and every form that carries an IPv4 address is judged exactly as that address.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/errors.js';
import { canonicalIp, ipv4Readings, normalizeCidr, normalizeIp, parseCidr, parseIpAddress } from '../../../src/pipeline/net/ipAddress.js';
import { checkProtectedDestination } from '../../../src/pipeline/planning/protectedDestination.js';

const hex = (v4: string) => {
  const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number];
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
};

/** Every IPv6 spelling of an IPv4 address that a judge must see through. */
function carriers(v4: string): Record<string, string> {
  const [hi, lo] = hex(v4);
  return {
    'IPv4-mapped (dotted)': `::ffff:${v4}`,
    'IPv4-mapped (hex)': `::ffff:${hi}:${lo}`,
    'IPv4-compatible': `::${hi}:${lo}`,
    'IPv4-translated': `::ffff:0:${hi}:${lo}`,
    NAT64: `64:ff9b::${hi}:${lo}`,
    '6to4': `2002:${hi}:${lo}::`,
    // Teredo: server v4, client 203.0.113.1 (public, not AWS), obfuscated (XOR 0xffffffff).
    'Teredo server': `2001:0:${hi}:${lo}:8000:63bf:3400:8efe`,
  };
}

/** A Teredo address whose client is v4 (server 203.0.113.1). */
function teredoClient(v4: string): string {
  const [a, b, c, d] = v4.split('.').map((x) => 255 - Number(x)) as [number, number, number, number];
  return `2001:0:cb00:7101:8000:63bf:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

describe('parsing and the canonical form', () => {
  it.each([
    ['203.0.113.45', '203.0.113.45'],
    ['2001:DB8::7', '2001:db8::7'],
    ['2001:db8:0:0:0:0:0:7', '2001:db8::7'],
    ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1'],
    ['::', '::'],
    ['::ffff:203.0.113.45', '203.0.113.45'],
    ['::FFFF:cb00:712d', '203.0.113.45'],
    ['64:ff9b::a00:1', '64:ff9b::a00:1'],
  ])('%s → %s', (raw, canonical) => {
    expect(normalizeIp(raw)).toBe(canonical);
    expect(canonicalIp(` ${raw} `)).toBe(canonical);
  });

  it.each(['203.0.113.045', '0x7f.0.0.1', '127.1', '203.0.113.0/24', 'fe80::1%eth0', '::ffff:010.0.0.1', '1.2.3.4.5', 'example.com', '', '256.0.0.1'])('refuses %j', (raw) => {
    expect(parseIpAddress(raw)).toBeUndefined();
    expect(() => normalizeIp(raw)).toThrow(ValidationError);
  });

  it('parses CIDRs with host bits cleared, and an IPv4-mapped range as its IPv4 range', () => {
    expect(parseCidr('10.1.2.3/8')?.text).toBe('10.0.0.0/8');
    expect(parseCidr('2001:DB8::1/32')?.text).toBe('2001:db8::/32');
    expect(parseCidr('::ffff:10.0.0.0/104')?.text).toBe('10.0.0.0/8');
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('10.0.0.0/08')).toBeUndefined();
    expect(normalizeCidr('2001:DB8:0::7/128')).toBe('2001:db8::7/128');
    expect(normalizeCidr('not-a-cidr')).toBe('not-a-cidr');
  });

  it('round-trips: the canonical form parses to the same address and is its own canonical form (IPv4, IPv6 in any spelling)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (raw) => {
        const parsed = parseIpAddress(raw);
        expect(parsed).toBeDefined();
        const again = parseIpAddress(parsed!.text)!;
        expect(again).toEqual(parsed);
        expect(parseIpAddress(raw.toUpperCase())).toEqual(parsed);
      }),
      { numRuns: 500 },
    );
  });
});

describe('IPv4 addresses carried in IPv6 forms', () => {
  it('reads every form, Teredo with its client address de-obfuscated', () => {
    const readings = (ip: string) => ipv4Readings(parseIpAddress(ip)!).map((r) => `${r.form} ${r.ipv4.text}`);
    expect(readings('64:ff9b::a00:1')).toEqual(['NAT64 10.0.0.1']);
    expect(readings('2002:a00:1::')).toEqual(['6to4 10.0.0.1']);
    expect(readings('::a00:1')).toEqual(['IPv4-compatible 10.0.0.1']);
    // RFC 4380's example: server 65.54.227.120, client 192.0.2.45.
    expect(readings('2001:0:4136:e378:8000:63bf:3fff:fdd2')).toEqual(['Teredo server 65.54.227.120', 'Teredo client 192.0.2.45']);
    expect(readings('64:ff9b:1:a00:1::')).toContain('NAT64 (local-use prefix) 10.0.1.0');
    expect(readings('2001:db8::7')).toEqual([]);
    expect(readings('::1')).toEqual([]);
  });

  it('judges every carrying form exactly as its IPv4 address (protected or not, for the same reason)', () => {
    fc.assert(
      fc.property(fc.ipV4(), (v4) => {
        const direct = checkProtectedDestination(v4);
        for (const [form, v6] of Object.entries({ ...carriers(v4), 'Teredo client': teredoClient(v4) })) {
          const judged = checkProtectedDestination(v6);
          expect(judged.protected, `${form} ${v6} of ${v4}`).toBe(direct.protected);
          // `::` and `::1` (the IPv4-compatible forms of 0.0.0.0 and 0.0.0.1) are special themselves.
          if (direct.protected && !['::', '::1'].includes(normalizeIp(v6))) expect(judged.reason!.endsWith(direct.reason!.slice(direct.reason!.indexOf(' is ') + 4)), `${judged.reason} / ${direct.reason}`).toBe(true);
        }
      }),
      { numRuns: 300, examples: [['0.0.0.0'], ['0.0.0.1'], ['10.0.0.1'], ['52.95.110.1'], ['203.0.113.45'], ['255.255.255.255']] },
    );
  });
});

describe('triage uses the same canonical form', () => {
  it('gives one IoC and one dedupe key to every spelling of an attacker address', async () => {
    const { triageEvent } = await import('../../../src/pipeline/triage/triageEvent.js');
    const { loadPlaybookConfig } = await import('../../../src/pipeline/triage/playbookConfig.js');
    const { fluentBitLine, reverseShellLine } = await import('../../helpers/events.js');
    const playbooks = loadPlaybookConfig(undefined);
    const triage = (ip: string) => {
      const r = triageEvent(fluentBitLine(reverseShellLine({ ip }), { host: 'ip-10-0-12-34.ap-northeast-2.compute.internal', priority: 'Critical' }), playbooks);
      if (!r.ok) throw new Error(r.error);
      return r.result;
    };
    const plain = triage('203.0.113.45');
    expect(triage('::ffff:203.0.113.45')).toMatchObject({ ioc: { ip: '203.0.113.45' }, dedupeKey: plain.dedupeKey });
    const v6 = triage('2001:db8::45');
    expect(triage('2001:DB8:0:0::45')).toMatchObject({ ioc: { ip: '2001:db8::45' }, dedupeKey: v6.dedupeKey });
  });
});
