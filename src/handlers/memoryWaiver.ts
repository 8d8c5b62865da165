import type { ApprovalStore } from '../bot/stores/approvalStore.js';

/** The approval the forensics playbook asks when memory capture failed (ec2-forensics.asl.json, AskWaiver). */
export const WAIVE_MEMORY_ACTION = 'waive-memory-capture';

export interface MemoryWaiver {
  approvalId: string;
  /** The responders who allowed it. */
  by: string[];
  at: string;
}

/**
 * A responder's waiver of the memory capture for an incident, as the approval store recorded
 * it: a decided waive-memory-capture approval whose decision is allow (for the same execution,
 * when known). The only source of a waiver: one in a message body counts for nothing.
 */
export async function memoryWaiverFor(approvals: ApprovalStore, incidentId: string, executionName: string | undefined): Promise<MemoryWaiver | undefined> {
  const records = await approvals.listForIncident(incidentId);
  const waiver = records.find(
    (r) =>
      r.proposedAction.action === WAIVE_MEMORY_ACTION &&
      r.status === 'decided' &&
      r.decision?.decision === 'allow' &&
      (executionName === undefined || r.executionName === undefined || r.executionName === executionName),
  );
  return waiver?.decision ? { approvalId: waiver.approvalId, by: waiver.decision.by, at: waiver.decision.at } : undefined;
}
