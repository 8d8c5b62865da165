import type { ApprovalChoice, ApprovalRecord, ApprovalStore } from '../stores/approvalStore.js';
import { stableJson } from '../util/stableJson.js';

/** A responder's decision, as the approval store recorded it. */
export interface DecidedApproval {
  approvalId: string;
  /** The responders who decided (`discord:<id>`), in the order they voted. */
  by: string[];
  at: string;
}

export interface DecidedApprovalQuery {
  incidentId: string;
  /** The proposed action the approval was about. */
  action: string;
  decision: ApprovalChoice;
  /** The execution asking; see `execution`. */
  executionName: string | undefined;
  /**
   * `same`: the approval must be of exactly this execution (both known and equal).
   * `unless-unknown`: an approval or a question without an execution also counts.
   */
  execution: 'same' | 'unless-unknown';
  /** When given, the approval's proposed input must be this input (key order aside). */
  input?: unknown;
}

function matches(r: ApprovalRecord, q: DecidedApprovalQuery): boolean {
  if (r.proposedAction.action !== q.action || r.status !== 'decided' || r.decision?.decision !== q.decision) return false;
  const sameExecution =
    q.execution === 'same'
      ? q.executionName !== undefined && r.executionName === q.executionName
      : q.executionName === undefined || r.executionName === undefined || r.executionName === q.executionName;
  if (!sameExecution) return false;
  return !('input' in q) || stableJson(r.proposedAction.input ?? {}) === stableJson(q.input ?? {});
}

/**
 * A decision responders made in Discord, for an incident, as the approval store holds it: the
 * only source of a person's say-so for a playbook step (a memory waiver, a block past the
 * automatic containment cap). Whatever a message body claims counts for nothing.
 */
export async function findDecidedApproval(approvals: ApprovalStore, q: DecidedApprovalQuery): Promise<DecidedApproval | undefined> {
  const records = await approvals.listForIncident(q.incidentId);
  const found = records.find((r) => matches(r, q));
  return found?.decision ? { approvalId: found.approvalId, by: found.decision.by, at: found.decision.at } : undefined;
}
