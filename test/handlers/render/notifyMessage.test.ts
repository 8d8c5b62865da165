import { describe, expect, it } from 'vitest';
import { renderNotifyAlert } from '../../../src/handlers/render/notifyMessage.js';
import { severityColor } from '../../../src/handlers/render/severityColor.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';
import { expectWithinDiscordLimits, worstTriage } from './fixtures.js';

function finding(overrides: Partial<TriageResult> = {}): TriageResult {
  return {
    source: 'guardduty',
    rule: 'Recon:EC2/PortProbeUnprotectedPort',
    severity: 'low',
    route: 'notify',
    target: { instanceId: 'i-0123456789abcdef0' },
    ioc: { ip: '198.51.100.9' },
    dedupeKey: 'guardduty-0123456789abcdef0123456789abcdef01234567',
    steps: ['notify'],
    time: '2026-11-20T03:14:07Z',
    context: {
      findingId: 'abc123',
      score: '2',
      resourceType: 'Instance',
      title: 'Unprotected port on EC2 instance i-0123456789abcdef0 is being probed.',
      account: '123456789012',
      region: 'ap-northeast-2',
      count: '14',
    },
    warnings: [],
    ...overrides,
  };
}

const fields = (m: ReturnType<typeof renderNotifyAlert>) => new Map(m.embeds[0]?.fields?.map((f) => [f.name, f.value]));

describe('renderNotifyAlert', () => {
  it('shows the finding title, type, severity score, resource type, account/region, IoC and instance', () => {
    const m = renderNotifyAlert(finding());
    const embed = m.embeds[0];
    expect(embed?.title).toBe('[LOW] Recon:EC2/PortProbeUnprotectedPort');
    expect(embed?.description).toBe('Unprotected port on EC2 instance i-0123456789abcdef0 is being probed.');
    expect(embed?.color).toBe(severityColor('low'));
    const f = fields(m);
    expect(f.get('Severity score')).toBe('2 / 10');
    expect(f.get('Finding type')).toBe('`Recon:EC2/PortProbeUnprotectedPort`');
    expect(f.get('Resource type')).toBe('`Instance`');
    expect(f.get('Account')).toBe('`123456789012`');
    expect(f.get('Region')).toBe('`ap-northeast-2`');
    expect(f.get('IoC')).toBe('`198.51.100.9`');
    expect(f.get('Instance')).toBe('`i-0123456789abcdef0`');
    expect(f.get('Finding id')).toBe('`abc123`');
    expect(embed?.footer?.text).toBe('guardduty · notify · guardduty-0123456789abcdef0123456789abcdef01234567');
    expect(m.components).toEqual([]);
    expectWithinDiscordLimits(m);
  });

  it('escapes a score that is not a number', () => {
    expect(fields(renderNotifyAlert(finding({ context: { score: '**11**' } }))).get('Severity score')).toBe('\\*\\*11\\*\\*');
  });

  it('respects every limit with worst-case input', () => {
    const m = renderNotifyAlert(worstTriage({ source: 'guardduty', route: 'notify' }));
    expectWithinDiscordLimits(m);
    expect(fields(m).has('Severity score')).toBe(true);
    expect(fields(m).has('Finding type')).toBe(true);
  });
});
