import { hash } from 'node:crypto';
import type { TriageResult } from '../pipeline/triage/types.js';

export type AggregationMode = 'exact' | 'counters';

/** Context fields that name one event, not the activity: never part of the key. */
const PER_EVENT: ReadonlySet<string> = new Set(['uuid', 'count']);

/**
 * The key an event's incident is counted under (SENTINEL_AGGREGATE_EVENTS).
 *
 * - `exact`: triage's dedupe key (every distinct event is its own incident).
 * - `counters`: events that differ only in the numbers inside their text fields (a counter in a
 *   command line, an attempt number, a sequence id) are near-identical: they count as repeats of
 *   one incident. Everything that decides containment is kept verbatim, so it never hides a
 *   distinct containment decision: the source, rule, severity, route, plan and observe flag, the
 *   whole target (node, namespace, pod, container, instance), the IoC (address and port), the
 *   file (path, source, candidates) and the GuardDuty finding's identity. Only the free text of
 *   `context` (user, process, command line, title…) has its digit runs folded; per-event fields
 *   (Falco's uuid, GuardDuty's count) are left out.
 */
export function aggregationKey(triage: TriageResult, mode: AggregationMode): string {
  if (mode === 'exact') return triage.dedupeKey;
  const context = Object.entries(triage.context ?? {})
    .filter(([k]) => !PER_EVENT.has(k))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => [k, k === 'findingId' || k === 'account' || k === 'region' ? v : v.replace(/\d+/g, '#')]);
  const identity = {
    source: triage.source,
    rule: triage.rule,
    severity: triage.severity,
    route: triage.route,
    steps: triage.steps,
    observe: triage.observe === true,
    target: [triage.target.node, triage.target.namespace, triage.target.pod, triage.target.container, triage.target.instanceId],
    ioc: triage.ioc ? [triage.ioc.ip, triage.ioc.port ?? null] : null,
    artifact: triage.artifact ? [triage.artifact.path ?? null, triage.artifact.src ?? null, triage.artifact.candidates ?? null] : null,
    context,
  };
  return `${triage.source}-agg-${hash('sha256', JSON.stringify(identity), 'hex').slice(0, 40)}`;
}
