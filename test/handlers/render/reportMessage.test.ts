import { describe, expect, it } from 'vitest';
import { type ReportIncident, formatBytes, renderReport, renderReportFollowUps } from '../../../src/handlers/render/reportMessage.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';
import { expectWithinDiscordLimits, worstIncidentRecord } from './fixtures.js';

const SHA = 'ab'.repeat(32);
const ALICE = '111111111111111111';

function triage(): TriageResult {
  return {
    source: 'falco',
    rule: 'Dropped binary executed',
    severity: 'high',
    route: 'file-artifact',
    target: { node: 'ip-10-0-1-2.ec2.internal', namespace: 'prod', pod: 'web-1' },
    artifact: { path: '/tmp/x' },
    dedupeKey: 'falco-abc',
    steps: ['extract-file', 'quarantine-file', 'record-incident', 'report'],
    context: {},
    warnings: [],
  };
}

function incident(overrides: Partial<ReportIncident> = {}): ReportIncident {
  return {
    incidentId: 'inc-42',
    executionName: 'falco-abc',
    startTime: '2026-11-20T03:14:07Z',
    route: 'file-artifact',
    triage: triage(),
    actions: [
      { action: 'extract-file', status: 'succeeded', summary: 'copied /tmp/x (1.2 MiB)' },
      { action: 'quarantine-file', status: 'skipped', summary: 'already quarantined' },
    ],
    manifest: [{ kind: 'file', location: 's3://evidence/inc-42/x.bin', sha256: SHA, size: 1_258_291, collector: 'extract-file' }],
    decisions: [{ decision: 'block', by: `discord:${ALICE}`, at: '2026-11-20T03:20:00Z', action: 'isolate-node', note: 'miner' }],
    ...overrides,
  };
}

const fields = (m: ReturnType<typeof renderReport>) => new Map(m.embeds.flatMap((e) => e.fields ?? []).map((f) => [f.name, f.value]));

describe('renderReport', () => {
  it('shows the outcome, route, each action with status and summary, evidence with short sha256, size and location, decisions, the record', () => {
    const m = renderReport({ incident: incident(), record: { location: 's3://evidence/incidents/2026-11-20T03:14:07.000Z/falco-abc.json' } });
    expect(m.embeds).toHaveLength(1);
    const embed = m.embeds[0];
    expect(embed?.title).toBe('Report: [HIGH] Dropped binary executed');
    expect(embed?.description).toContain('✅ completed');
    const f = fields(m);
    expect(f.get('Route')).toBe('`file-artifact`');
    expect(f.get('Target')).toContain('`prod/web-1`');
    expect(f.get('Actions')).toBe('✅ `extract-file` copied /tmp/x (1.2 MiB)\n⏭️ `quarantine-file` already quarantined');
    expect(f.get('Evidence')).toBe('`file` · `sha256:abababababab…` · 1.2 MiB · `s3://evidence/inc-42/x.bin`');
    expect(f.get('Decisions')).toBe(`**block** by <@${ALICE}> · <t:${Date.parse('2026-11-20T03:20:00Z') / 1000}:f> · \`isolate-node\` · miner`);
    expect(f.get('Record')).toBe('`s3://evidence/incidents/2026-11-20T03:14:07.000Z/falco-abc.json`');
    expect(embed?.footer?.text).toBe('incident inc-42 · falco-abc · falco-abc');
    expect(m.allowedMentions).toEqual({ parse: [] });
    expect(renderReportFollowUps({ incident: incident() })).toEqual([]);
    expectWithinDiscordLimits(m);
  });

  it('shows a failure: the error and the failed actions', () => {
    const m = renderReport({
      incident: incident({ error: { error: 'States.TaskFailed', cause: 'NACL quota reached' }, actions: [{ action: 'deny-egress', status: 'failed', summary: 'quota' }] }),
    });
    expect(m.embeds[0]?.description).toContain('❌ failed (1 action(s) failed)');
    expect(fields(m).get('Error')).toBe('```\nStates.TaskFailed\ncause: NACL quota reached\n```');
    expect(fields(m).get('Record')).toBe('not recorded');
  });

  it('says "none" for empty sections', () => {
    const f = fields(renderReport({ incident: incident({ actions: [], manifest: [], decisions: [] }) }));
    expect([f.get('Actions'), f.get('Evidence'), f.get('Decisions')]).toEqual(['none', 'none', 'none']);
  });

  it('accepts an IncidentRecord as is (triage as a plain record)', () => {
    const record = worstIncidentRecord();
    expectWithinDiscordLimits(renderReport({ incident: record, record: { location: 's3://b/k.json' } }));
  });

  it('with 1000 evidence items: stays within 6000 characters over at most N embeds and says the rest follows in the thread', () => {
    const input = { incident: worstIncidentRecord(), record: { location: 's3://sentinel-evidence/incidents/x.json' } };
    for (const maxEmbeds of [1, 3, 10]) {
      const m = renderReport(input, { maxEmbeds });
      expect(m.embeds.length).toBeLessThanOrEqual(maxEmbeds);
      expectWithinDiscordLimits(m);
      expect(m.embeds[0]?.description).toMatch(/more line\(s\) \(.*\) follow in the thread/);
    }
  });

  it('puts every line that did not fit into follow-ups of at most 2000 characters, in order, without losing or repeating one', () => {
    // Short lines so everything fits within the follow-up cap.
    const manifest = Array.from({ length: 1000 }, (_, i) => ({ kind: 'file', location: `s3://b/${i}`, sha256: SHA, size: i, collector: 'c' }));
    const input = { incident: incident({ manifest }) };
    const m = renderReport(input);
    const followUps = renderReportFollowUps(input, { maxFollowUps: 1000 });
    expect(followUps.length).toBeGreaterThan(1);
    for (const f of followUps) {
      expect(f.content?.length).toBeLessThanOrEqual(2000);
      expect(f.embeds).toEqual([]);
      expect(f.allowedMentions).toEqual({ parse: [] });
      expectWithinDiscordLimits(f);
    }
    const inEmbeds = [...fields(m).entries()].filter(([name]) => name.startsWith('Evidence')).flatMap(([, v]) => v.split('\n'));
    const inThread = followUps.flatMap((f) => (f.content ?? '').split('\n')).filter((l) => !l.startsWith('**Evidence**'));
    const locations = [...inEmbeds, ...inThread].map((l) => /`s3:\/\/b\/(\d+)`/.exec(l)?.[1]).map(Number);
    expect(locations).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(followUps[0]?.content).toMatch(/^\*\*Evidence\*\* \(continued, \d+–1000 of 1000\)/);
  });

  it('caps the follow-ups and says where the full list is', () => {
    const input = { incident: worstIncidentRecord(), record: { location: 's3://sentinel-evidence/incidents/x.json' } };
    const followUps = renderReportFollowUps(input, { maxFollowUps: 5 });
    expect(followUps).toHaveLength(5);
    expect(followUps[4]?.content).toMatch(/^…\d+ more line\(s\) not posted\. The full list is in the incident record: `s3:\/\/sentinel-evidence\/incidents\/x\.json`$/);
    for (const f of followUps) expectWithinDiscordLimits(f);
  });

  it('formats sizes', () => {
    expect([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(5 * 1024 ** 3), formatBytes(-1)]).toEqual(['0 B', '1023 B', '1.5 KiB', '5.0 GiB', '? B']);
  });
});
