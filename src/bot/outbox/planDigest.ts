/**
 * Storm mode's grouping, pure: which digest an incident joins (its rule and the class of its
 * target), how a member is named and what state it is in, and the digest's summary (counts per
 * state, top targets).
 */
import { SEVERITIES, type Severity } from '../../pipeline/triage/types.js';
import type { IncidentMessageView, Slot } from '../../handlers/ports/outboxSlot.js';

export type TargetClass = 'pod' | 'node' | 'instance' | 'ip' | 'other';
export type MemberStatus = 'running' | 'done' | 'failed';

interface TriageFacts {
  rule: string;
  severity: Severity;
  targetClass: TargetClass;
  target: string;
  route: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

/** What the digest needs of a member's triage (defensive: the triage is stored JSON). */
export function triageFacts(view: IncidentMessageView): TriageFacts {
  const t = view.kind === 'report' ? view.incident.triage : view.triage;
  const target = (typeof t.target === 'object' && t.target !== null ? t.target : {}) as Record<string, unknown>;
  const ioc = (typeof t.ioc === 'object' && t.ioc !== null ? t.ioc : {}) as Record<string, unknown>;
  const severity = (SEVERITIES as readonly string[]).includes(String(t.severity)) ? (t.severity as Severity) : 'info';
  const [pod, ns, node, instance, ip] = [str(target.pod), str(target.namespace), str(target.node), str(target.instanceId), str(ioc.ip)];
  const [targetClass, name]: [TargetClass, string] = pod
    ? ['pod', ns ? `${ns}/${pod}` : pod]
    : node
      ? ['node', node]
      : instance
        ? ['instance', instance]
        : ip
          ? ['ip', ip]
          : ['other', str((t.context as Record<string, unknown> | undefined)?.resourceType) ?? 'unknown'];
  return { rule: str(t.rule) ?? 'incident', severity, targetClass, target: name, route: str(t.route) ?? '?' };
}

/** The digest group of an incident: one rule on one class of target. */
export function digestGroup(view: IncidentMessageView): { rule: string; targetClass: TargetClass } {
  const f = triageFacts(view);
  return { rule: f.rule, targetClass: f.targetClass };
}

/** Where a member stands, from what its message would show now. */
export function memberStatus(view: IncidentMessageView): MemberStatus {
  if (view.kind === 'report') return view.failed ? 'failed' : 'done';
  if (view.kind === 'alert' && str(view.triage.route) === 'notify') return 'done';
  return 'running';
}

export interface DigestMember {
  incidentId: string;
  target: string;
  severity: Severity;
  status: MemberStatus;
}

export function digestMember(slot: Slot): DigestMember | undefined {
  if (slot.view.kind !== 'incident' && slot.view.kind !== 'alert' && slot.view.kind !== 'report') return undefined;
  const f = triageFacts(slot.view);
  return { incidentId: slot.view.incidentId, target: f.target, severity: f.severity, status: memberStatus(slot.view) };
}

export interface DigestSummary {
  total: number;
  byStatus: Record<MemberStatus, number>;
  /** The most frequent targets, most first (ties: first seen first), with their counts. */
  topTargets: Array<{ target: string; count: number }>;
  /** The highest severity among the members. */
  severity: Severity;
}

export function summarizeDigest(members: readonly DigestMember[], top = 5): DigestSummary {
  const byStatus: Record<MemberStatus, number> = { running: 0, done: 0, failed: 0 };
  const targets = new Map<string, number>();
  let severity: Severity = 'info';
  for (const m of members) {
    byStatus[m.status] += 1;
    targets.set(m.target, (targets.get(m.target) ?? 0) + 1);
    if (SEVERITIES.indexOf(m.severity) < SEVERITIES.indexOf(severity)) severity = m.severity;
  }
  const topTargets = [...targets.entries()]
    .map(([target, count], order) => ({ target, count, order }))
    .sort((a, b) => b.count - a.count || a.order - b.order)
    .slice(0, top)
    .map(({ target, count }) => ({ target, count }));
  return { total: members.length, byStatus, topTargets, severity };
}

/** Members listed per page of the digest's thread. */
export const DIGEST_PAGE_SIZE = 20;
