import { NotFoundError } from '../errors.js';
import {
  type ApprovalAuditEntry,
  type ApprovalRecord,
  type ApprovalRecordInput,
  type ApprovalStore,
  type DecideInput,
  type DecideResult,
  type Transition,
  appendAuditTransition,
  attachMessageTransition,
  isUndelivered,
  markDeliveredTransition,
  markExpiredTransition,
  markFailedTransition,
} from './approvalStore.js';

export type Mutation<R> = { found: false } | { found: true; result: R };

/**
 * What both approval stores share: every change is a pure transition (approvalStore.ts) applied
 * by the store's own atomic read-transform-write (`mutate`), and every listing is a filter over
 * the stored records (`listWhere`). A store adds storage and atomicity, nothing else.
 */
export abstract class TransitionApprovalStore implements ApprovalStore {
  /** The clock for the transitions that stamp a time. */
  protected abstract now(): Date;
  /**
   * Reads the record, applies the transition, writes the next record atomically (retrying when
   * another writer got there first). `confirm` re-checks a written result where the backend needs it.
   */
  protected abstract mutate<R>(
    approvalId: string,
    transition: (record: ApprovalRecord) => Transition<R>,
    confirm?: (written: ApprovalRecord, result: R) => Promise<R | undefined>,
  ): Promise<Mutation<R>>;
  /** Every readable record that `keep` accepts, oldest first; unreadable ones are skipped and logged. */
  protected abstract listWhere(keep: (record: ApprovalRecord) => boolean): Promise<ApprovalRecord[]>;

  abstract create(record: ApprovalRecordInput): Promise<ApprovalRecord>;
  abstract get(approvalId: string): Promise<ApprovalRecord | undefined>;
  abstract decide(approvalId: string, input: DecideInput): Promise<DecideResult>;

  protected async mutateExisting(approvalId: string, transition: (record: ApprovalRecord) => Transition<ApprovalRecord>): Promise<ApprovalRecord> {
    const out = await this.mutate(approvalId, transition);
    if (!out.found) throw new NotFoundError(`No approval ${approvalId}`);
    return out.result;
  }

  attachMessage(approvalId: string, channelId: string, messageId: string): Promise<ApprovalRecord> {
    return this.mutateExisting(approvalId, (r) => attachMessageTransition(r, channelId, messageId));
  }

  markFailed(approvalId: string, reason: string): Promise<ApprovalRecord> {
    return this.mutateExisting(approvalId, (r) => markFailedTransition(r, reason, this.now()));
  }

  markDelivered(approvalId: string): Promise<ApprovalRecord> {
    return this.mutateExisting(approvalId, (r) => markDeliveredTransition(r, this.now()));
  }

  markExpired(approvalId: string): Promise<ApprovalRecord> {
    return this.mutateExisting(approvalId, (r) => markExpiredTransition(r, this.now()));
  }

  appendAudit(approvalId: string, entry: ApprovalAuditEntry): Promise<ApprovalRecord> {
    return this.mutateExisting(approvalId, (r) => appendAuditTransition(r, entry));
  }

  listPending(): Promise<ApprovalRecord[]> {
    return this.listWhere((r) => r.status === 'pending');
  }

  listUndelivered(): Promise<ApprovalRecord[]> {
    return this.listWhere(isUndelivered);
  }

  listForIncident(incidentId: string): Promise<ApprovalRecord[]> {
    return this.listWhere((r) => r.incidentId === incidentId);
  }
}
