import type { ApprovalStore } from '../stores/approvalStore.js';
import { findDecidedApproval, type DecidedApproval } from './decidedApproval.js';

/** The approval the forensics playbook asks when memory capture failed (ec2-forensics.asl.json, AskWaiver). */
export const WAIVE_MEMORY_ACTION = 'waive-memory-capture';

export type MemoryWaiver = DecidedApproval;

/**
 * A responder's waiver of the memory capture for an incident, as the approval store recorded
 * it: a decided waive-memory-capture approval whose decision is allow (for the same execution,
 * when known). The only source of a waiver: one in a message body counts for nothing.
 */
export async function memoryWaiverFor(approvals: ApprovalStore, incidentId: string, executionName: string | undefined): Promise<MemoryWaiver | undefined> {
  return findDecidedApproval(approvals, { incidentId, action: WAIVE_MEMORY_ACTION, decision: 'allow', executionName, execution: 'unless-unknown' });
}
