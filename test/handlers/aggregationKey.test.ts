/**
 * Triage-level aggregation (SENTINEL_AGGREGATE_EVENTS): events that differ only in the numbers of
 * their text fields count as one incident; anything that decides containment keeps them apart.
 * Real events through the real triage.
 */
import { describe, expect, it } from 'vitest';
import { aggregationKey } from '../../src/handlers/aggregationKey.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../src/pipeline/triage/types.js';
import { falcoJson, fluentBitLine, guardDutyEvent, reverseShellLine } from '../helpers/events.js';

const playbooks = loadPlaybookConfig(undefined);

function triage(event: unknown): TriageResult {
  const r = triageEvent(event, playbooks);
  if (!r.ok) throw new Error(r.error);
  return r.result;
}

function probe(opts: { seq: number; pod?: string; rule?: string; uuid?: string; cmd?: string }) {
  return triage(
    falcoJson({
      rule: opts.rule ?? 'Storm probe',
      priority: 'Warning',
      output: `probe (cmdline=${opts.cmd ?? 'probe --seq'} ${opts.seq})`,
      fields: { 'k8s.pod.name': opts.pod ?? 'web-1', 'k8s.ns.name': 'dvwa', 'proc.cmdline': `${opts.cmd ?? 'probe --seq'} ${opts.seq}` },
      ...(opts.uuid ? { uuid: opts.uuid } : {}),
    }),
  );
}

const key = (t: TriageResult) => aggregationKey(t, 'counters');

describe('aggregationKey', () => {
  it('exact: the dedupe key, so every distinct event is its own incident', () => {
    const a = probe({ seq: 1 });
    const b = probe({ seq: 2 });
    expect(aggregationKey(a, 'exact')).toBe(a.dedupeKey);
    expect(aggregationKey(b, 'exact')).not.toBe(aggregationKey(a, 'exact'));
  });

  it('counters: events that differ only in a counter (or the event uuid) are one incident', () => {
    const keys = new Set([probe({ seq: 1, uuid: 'u-1' }), probe({ seq: 2, uuid: 'u-2' }), probe({ seq: 300 })].map(key));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^falco-agg-[0-9a-f]{40}$/);
  });

  it('counters: never folds a different target, IoC, file, rule or text', () => {
    const base = key(probe({ seq: 1 }));
    expect(key(probe({ seq: 1, pod: 'web-2' }))).not.toBe(base);
    expect(key(probe({ seq: 1, rule: 'Another probe' }))).not.toBe(base);
    expect(key(probe({ seq: 1, cmd: 'rm -rf /' }))).not.toBe(base);
    const shell = (ip: string, port = 4444) => key(triage(fluentBitLine(reverseShellLine({ ip, port }))));
    expect(shell('203.0.113.45')).not.toBe(shell('203.0.113.46'));
    expect(shell('203.0.113.45')).not.toBe(shell('203.0.113.45', 4445));
    expect(shell('203.0.113.45')).toBe(key(triage(fluentBitLine(reverseShellLine({ ip: '203.0.113.45', lport: 50001 })))));
    const file = (path: string) =>
      key(triage(falcoJson({ rule: 'Drop and execute new binary in container', output: 'Executing binary not part of base image', fields: { 'proc.exepath': path, 'k8s.pod.name': 'web-1', 'k8s.ns.name': 'dvwa' } })));
    expect(file('/tmp/a1')).not.toBe(file('/tmp/a2'));
  });

  it('counters: GuardDuty findings keep their identity (another finding id is another incident); the update count is ignored', () => {
    const f = (id: string, count: number) => key(triage(guardDutyEvent({ id, resourceType: 'S3Bucket', count })));
    expect(f('finding-1', 1)).toBe(f('finding-1', 7));
    expect(f('finding-1', 1)).not.toBe(f('finding-2', 1));
  });
});
