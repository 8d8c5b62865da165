import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderIncidentMessage } from '../../../src/handlers/render/incidentMessage.js';
import { renderTestEventMessage } from '../../../src/handlers/render/testEventMessage.js';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';
import { expectWithinDiscordLimits, HOSTILE, worstTriage } from './fixtures.js';

const config = loadPlaybookConfig();
function triageOf(name: string, over: (e: Record<string, unknown>) => Record<string, unknown> = (e) => e): TriageResult {
  const event = JSON.parse(readFileSync(new URL(`../../fixtures/falco-stock/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
  const out = triageEvent(over(event), config);
  if (!out.ok) throw new Error(out.error);
  return out.result;
}
const fields = (m: { embeds: { fields?: { name: string; value: string }[] }[] }) => m.embeds[0]!.fields!.map((f) => [f.name, f.value]);

describe("Falcosidekick's test event", () => {
  it('says the wiring works, from where, with the cluster, and that nothing was opened or run', () => {
    const m = renderTestEventMessage(triageOf('falcosidekick-test.json'));
    const embed = m.embeds[0]!;
    expect(embed.title).toBe('✅ Wiring works: Falcosidekick → sentinel');
    expect(embed.description).toMatch(/No incident was opened and no playbook runs/);
    expect(fields(m)).toEqual([
      ['From', '`falcosidekick`'],
      ['Cluster', '`prod-eks`'],
      ['Rule', '`Test rule`'],
      ['Sent', expect.stringMatching(/^<t:\d+:f> \(<t:\d+:R>\)$/)],
    ]);
    expect(m.components).toEqual([]);
    expectWithinDiscordLimits(m);
  });

  it('keeps hostile custom fields inert and within limits', () => {
    const triage = { ...worstTriage(), route: 'test' as const, custom: { cluster: HOSTILE, [`k${'x'.repeat(60)}`]: HOSTILE } };
    const m = renderTestEventMessage(triage);
    expectWithinDiscordLimits(m);
    expect(JSON.stringify(m)).not.toMatch(/@everyone|@here/);
    // Mentions and markdown stay inside inline code, where Discord renders them as text.
    for (const f of m.embeds[0]!.fields!) if (f.value.includes('<@')) expect(f.value).toMatch(/^`[^`]*`$/);
  });
});

describe('custom fields in incident embeds', () => {
  it('shows the cluster first, before the node, and the other custom fields after the target', () => {
    const triage = triageOf('terminal-shell.json', (e) => ({ ...e, output_fields: { ...(e.output_fields as object), cluster: 'prod-eks', team: 'payments' } }));
    const names = renderIncidentMessage({ incidentId: 'inc-1', triage, status: 'running', repeats: undefined }).embeds[0]!.fields!.map((f) => f.name);
    expect(names.indexOf('Cluster')).toBeGreaterThanOrEqual(0);
    expect(names.indexOf('Cluster')).toBeLessThan(names.indexOf('Node'));
    expect(names.indexOf('team')).toBeGreaterThan(names.indexOf('Container'));
  });
});
