/**
 * A triage result that comes back in a message (an approval request, an incident, alert or report
 * in the outbox) is read field by field before it is rendered: a result triage made reads back as
 * it was, and any other shape is still rendered, never thrown on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderApprovalMessage } from '../../../src/handlers/render/approvalMessage.js';
import { renderIncidentMessage } from '../../../src/handlers/render/incidentMessage.js';
import { renderNotifyAlert } from '../../../src/handlers/render/notifyMessage.js';
import { readShownTriage } from '../../../src/handlers/render/readShownTriage.js';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';
import { fixtureNames, loadFixture, reverseShellLine } from '../../helpers/events.js';

const config = loadPlaybookConfig(undefined);

function renderAll(triage: TriageResult) {
  return [
    renderApprovalMessage({ approvalId: 'abcdefgh12', incidentId: 'inc-1', triage, proposedAction: { action: 'isolate-node', summary: 'isolate the node' }, preflight: undefined, deadline: new Date(Date.UTC(2026, 11, 6)), requiredApprovals: 1, approvals: [] }),
    renderIncidentMessage({ incidentId: 'inc-1', triage, status: 'running', observe: false, repeats: undefined }),
    renderNotifyAlert(triage),
  ];
}

describe('readShownTriage', () => {
  it('reads every result triage makes of the sample events as it was, and renders it the same', () => {
    const results = [...fixtureNames().map(loadFixture), reverseShellLine({ ip: '203.0.113.45', port: 4444 })].flatMap((e) => {
      const o = triageEvent(e, config);
      return o.ok ? [o.result] : [];
    });
    expect(results.length).toBeGreaterThan(5);
    expect(results.some((r) => r.ioc?.port !== undefined)).toBe(true);
    for (const result of results) {
      // As the playbook carries it: through JSON.
      const carried = JSON.parse(JSON.stringify(result)) as unknown;
      expect(readShownTriage(carried)).toEqual(carried);
      expect(renderAll(readShownTriage(carried))).toEqual(renderAll(result));
    }
  });

  it('writes a number out where text is expected and leaves out what has another type', () => {
    const shown = readShownTriage({ rule: 123, severity: 'high', target: { pod: 5, namespace: ['a'], node: 'ip-10-0-1-23' }, ioc: { ip: '203.0.113.45', port: '4444' }, artifact: 'x', steps: ['a', 7], context: { user: 'root', pid: 12, bad: {} } });
    expect(shown).toMatchObject({ rule: '123', severity: 'high', target: { pod: '5', node: 'ip-10-0-1-23' }, ioc: { ip: '203.0.113.45' }, steps: ['a'], context: { user: 'root', pid: '12' } });
    expect(shown.target).not.toHaveProperty('namespace');
    expect(shown.ioc).not.toHaveProperty('port');
    expect(shown).not.toHaveProperty('artifact');
    expect(renderAll(shown)[0]!.embeds[0]!.title).toContain('123');
  });

  it('passes what it does not read through untouched, however deeply it nests', () => {
    // 50,000 levels: about what a 256 KB SQS body can hold.
    const deep = JSON.parse(`${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`) as unknown;
    const shown = readShownTriage({ rule: 'r', severity: 'high', target: { pod: 'web' }, extra: deep });
    expect((shown as unknown as { extra: unknown }).extra).toBe(deep);
    expect(renderAll(shown)).toHaveLength(3);
  });

  it('renders any shape it is given without throwing', () => {
    const leaf = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(fc.constantFrom('ip', 'port', 'pod', 'namespace', 'node', 'path', 'src', 'candidates', 'user', 'cluster'), tie('value'), { maxKeys: 4 })),
    }));
    const keys = ['source', 'rule', 'severity', 'route', 'target', 'artifact', 'ioc', 'dedupeKey', 'steps', 'time', 'context', 'warnings', 'observe', 'custom'] as const;
    const triage = fc.oneof(value, fc.record(Object.fromEntries(keys.map((k) => [k, value])), { requiredKeys: [] }));
    fc.assert(
      fc.property(triage, (t) => {
        for (const rendered of renderAll(readShownTriage(t))) expect(rendered.allowedMentions).toEqual({ parse: [] });
      }),
      { numRuns: 3000 },
    );
  });
});
