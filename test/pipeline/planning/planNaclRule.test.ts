import { describe, expect, it } from 'vitest';
import { planNaclRule, type NaclEntry } from '../../../src/pipeline/planning/planNaclRule.js';

const defaultEgress: NaclEntry[] = [
  { ruleNumber: 100, egress: true, action: 'allow', protocol: '-1', cidr: '0.0.0.0/0' },
  { ruleNumber: 32767, egress: true, action: 'deny', protocol: '-1', cidr: '0.0.0.0/0' },
  { ruleNumber: 100, egress: false, action: 'allow', protocol: '-1', cidr: '0.0.0.0/0' },
];
const target = { cidr: '203.0.113.45/32', ipv6: false, port: 4444 };

describe('planNaclRule', () => {
  it('places the deny before the default allow-all rule 100', () => {
    expect(planNaclRule(defaultEgress, target)).toEqual({ kind: 'create', ruleNumber: 1, firstAllow: 100 });
  });

  it('takes the lowest free number below the first allow', () => {
    const entries = [...defaultEgress, { ruleNumber: 1, egress: true, action: 'deny', protocol: '6', cidr: '198.51.100.1/32', portRange: { from: 22, to: 22 } } as NaclEntry];
    expect(planNaclRule(entries, target)).toMatchObject({ kind: 'create', ruleNumber: 2 });
  });

  it('skips when the IP is already denied on that port before the allows', () => {
    const entries = [...defaultEgress, { ruleNumber: 3, egress: true, action: 'deny', protocol: '6', cidr: '203.0.113.45/32', portRange: { from: 4444, to: 4444 } } as NaclEntry];
    expect(planNaclRule(entries, target)).toEqual({ kind: 'exists', ruleNumber: 3, reason: 'rule 3 already denies this' });
  });

  it('does not count a deny behind an allow as existing (it never matches)', () => {
    const entries = [...defaultEgress, { ruleNumber: 150, egress: true, action: 'deny', protocol: '6', cidr: '203.0.113.45/32', portRange: { from: 4444, to: 4444 } } as NaclEntry];
    expect(planNaclRule(entries, target)).toMatchObject({ kind: 'create', ruleNumber: 1 });
  });

  it('treats an all-traffic deny for the IP as covering the port', () => {
    const entries = [...defaultEgress, { ruleNumber: 5, egress: true, action: 'deny', protocol: '-1', cidr: '203.0.113.45/32' } as NaclEntry];
    expect(planNaclRule(entries, target)).toMatchObject({ kind: 'exists', ruleNumber: 5 });
  });

  it('ignores ingress rules and the other address family', () => {
    const entries: NaclEntry[] = [
      { ruleNumber: 1, egress: false, action: 'allow', protocol: '-1', cidr: '0.0.0.0/0' },
      { ruleNumber: 10, egress: true, action: 'allow', protocol: '-1', ipv6Cidr: '::/0' },
      { ruleNumber: 100, egress: true, action: 'allow', protocol: '-1', cidr: '0.0.0.0/0' },
    ];
    expect(planNaclRule(entries, target)).toMatchObject({ kind: 'create', ruleNumber: 1, firstAllow: 100 });
    expect(planNaclRule(entries, { cidr: '2001:db8::7/128', ipv6: true, port: 443 })).toMatchObject({ kind: 'create', ruleNumber: 1, firstAllow: 10 });
  });

  it('refuses when no number is free below the first allow', () => {
    const entries: NaclEntry[] = [
      { ruleNumber: 1, egress: true, action: 'deny', protocol: '6', cidr: '198.51.100.1/32', portRange: { from: 1, to: 1 } },
      { ruleNumber: 2, egress: true, action: 'allow', protocol: '-1', cidr: '0.0.0.0/0' },
    ];
    expect(() => planNaclRule(entries, target)).toThrow(/no free rule number below the first egress allow rule \(2\)/);
  });

  it('denies all TCP ports when no port is given', () => {
    const entries = [...defaultEgress, { ruleNumber: 4, egress: true, action: 'deny', protocol: '6', cidr: '203.0.113.45/32', portRange: { from: 4444, to: 4444 } } as NaclEntry];
    expect(planNaclRule(entries, { cidr: '203.0.113.45/32', ipv6: false })).toMatchObject({ kind: 'create', ruleNumber: 1 });
  });
});
