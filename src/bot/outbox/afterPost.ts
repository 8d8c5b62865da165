/**
 * What follows a slot's first post, per kind: the message id goes where the rest of the bot looks
 * for it (the incident, the approval record), and an approval's posting is audited. Run until it
 * succeeds (the slot's `hooked` flag), so a crash after the post still completes it on restart.
 */
import { NotFoundError } from '../../errors.js';
import type { ApprovalStore } from '../../stores/approvalStore.js';
import type { AuditLog } from '../../stores/auditLog.js';
import type { IncidentStore } from '../../stores/incidentStore.js';
import type { Slot, SlotView, ViewOf } from '../../handlers/ports/outboxSlot.js';

export interface AfterPostDeps {
  incidents: IncidentStore;
  approvals: ApprovalStore;
  audit: AuditLog;
  now: () => Date;
}

type Posted = { channelId: string; messageId: string };
type Hooks = { [K in SlotView['kind']]: (view: ViewOf<K>, posted: Posted, deps: AfterPostDeps) => Promise<void> };

async function attachToIncident(incidentId: string, posted: Posted, deps: AfterPostDeps): Promise<void> {
  try {
    await deps.incidents.attachMessage(incidentId, posted.channelId, posted.messageId);
  } catch (err) {
    // A report or alert for an incident this bot never observed: there is nothing to attach to.
    if (!(err instanceof NotFoundError)) throw err;
  }
}

const HOOKS = {
  incident: (view, posted, deps) => attachToIncident(view.incidentId, posted, deps),
  alert: (view, posted, deps) => attachToIncident(view.incidentId, posted, deps),
  report: (view, posted, deps) => attachToIncident(view.incidentId, posted, deps),
  approval: async (view, posted, deps) => {
    try {
      await deps.approvals.attachMessage(view.approvalId, posted.channelId, posted.messageId);
    } catch (err) {
      // The record is gone (pruned, or another deployment's store): the message stays as posted.
      if (!(err instanceof NotFoundError)) throw err;
    }
    await deps.audit.append({ at: deps.now(), who: 'sentinel', what: 'approval-requested', incidentId: view.incidentId, approvalId: view.approvalId, outcome: 'posted', detail: { action: view.action } });
  },
  digest: async () => undefined,
  part: async () => undefined,
  post: async () => undefined,
} satisfies Hooks;

export async function afterPost(slot: Slot, deps: AfterPostDeps): Promise<void> {
  if (!slot.message) return;
  const hook = HOOKS[slot.view.kind] as (view: SlotView, posted: Posted, deps: AfterPostDeps) => Promise<void>;
  await hook(slot.view, slot.message, deps);
}
