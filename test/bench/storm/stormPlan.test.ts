/**
 * The storm benchmark's own pieces that its figures rest on (pure, no I/O): the storm it sends is
 * the one docs/benchmarks.md describes, and its attributions and percentiles add up.
 */
import { describe, expect, it } from 'vitest';
import { buildStormEvents } from '../../../bench/storm/buildStormEvents.js';
import { intakeStalls, latencies, percentile } from '../../../bench/storm/summarizeStorm.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';

const time = new Date('2026-12-06T00:00:00.000Z');
const base = { node: 'ip-10-77-0-34.ap-northeast-2.compute.internal', namespace: 'dvwa', pod: 'dvwa-storm', container: 'dvwa', time };

describe('buildStormEvents', () => {
  it('makes 10,000 events: 500 incidents seen once and 50 seen 190 times, on four routes, the same every run', () => {
    const plan = buildStormEvents({ ...base, total: 10_000, distinct: 500, repeated: 50 });
    expect(plan.events).toHaveLength(10_000);
    expect(plan.repeatsEach).toBe(190);
    expect(plan.routes).toEqual({
      approval: { distinct: 20, repeated: 4 },
      'block-egress': { distinct: 20, repeated: 4 },
      'file-artifact': { distinct: 20, repeated: 2 },
      record: { distinct: 440, repeated: 40 },
    });
    const bodies = new Map<string, number>();
    for (const e of plan.events) bodies.set(JSON.stringify(e), (bodies.get(JSON.stringify(e)) ?? 0) + 1);
    const counts = [...bodies.values()];
    expect(counts.filter((n) => n === 1)).toHaveLength(500);
    expect(counts.filter((n) => n === 190)).toHaveLength(50);
    expect(plan.files).toHaveLength(22);
    expect(JSON.stringify(buildStormEvents({ ...base, total: 10_000, distinct: 500, repeated: 50 }).events)).toBe(JSON.stringify(plan.events));
  });

  it('sends each incident down the route it is counted under, with the stock playbook config', () => {
    const playbooks = loadPlaybookConfig();
    const plan = buildStormEvents({ ...base, total: 300, distinct: 100, repeated: 10 });
    const routes: Record<string, Set<string>> = {};
    for (const e of plan.events) {
      const out = triageEvent(e, playbooks);
      if (!out.ok) throw new Error(`a storm event did not triage: ${out.error}`);
      (routes[out.result.route] ??= new Set()).add(JSON.stringify(e));
    }
    const expected = Object.fromEntries(Object.entries(plan.routes).map(([r, n]) => [r, n.distinct + n.repeated]));
    expect(Object.fromEntries(Object.entries(routes).map(([r, s]) => [r, s.size]))).toEqual(expected);
  });

  it('refuses more incidents than events', () => {
    expect(() => buildStormEvents({ ...base, total: 10, distinct: 8, repeated: 5 })).toThrow(/more than --events/);
  });
});

describe('intakeStalls', () => {
  it('charges each silence over the threshold to the line that ended it, and ignores other lines', () => {
    const at = (s: number) => Date.parse('2026-12-06T00:00:00Z') + s * 1000;
    const stalls = intakeStalls([
      { at: at(0), message: 'repeat counted on the open incident' },
      { at: at(0.05), message: 'repeat counted on the open incident' },
      { at: at(0.1), message: 'action finished' },
      { at: at(0.55), message: 'playbook start recorded' },
      { at: at(0.6), message: 'repeat counted on the open incident' },
      { at: at(2.6), message: 'repeat of a file incident: contained again' },
      { at: at(3.0), message: 'playbook start recorded' },
    ]);
    expect(stalls.spanSeconds).toBe(3);
    expect(stalls.byEnd).toEqual({
      'a new incident (recorded, its playbook start recorded)': { count: 2, seconds: 0.9 },
      'a file repeat (its file extracted and quarantined again)': { count: 1, seconds: 2 },
    });
  });
});

describe('latencies', () => {
  it('gives nearest-rank percentiles in seconds', () => {
    const ms = Array.from({ length: 100 }, (_, i) => (i + 1) * 1000);
    expect(latencies(ms)).toEqual({ count: 100, p50: 50, p99: 99, max: 100 });
    expect(percentile([], 50)).toBeNaN();
  });
});
