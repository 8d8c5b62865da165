/**
 * The two-person rule's one check on a vote, shared by the approval store (playbook approvals)
 * and the confirmation store (slash commands): both apply it inside their pure transitions, so
 * no handler can skip it.
 */

/** Why a vote does not count. */
export type VoteRefusal =
  /** This person has voted already: one person is one vote, whatever they click again. */
  | 'already-voted'
  /** This person started the action: they cannot also be its second approver. */
  | 'initiator';

export type VoteCheck = { ok: true } | { ok: false; reason: VoteRefusal };

export interface VoteInput {
  /** Who votes: a Discord user id or `discord:<id>`. */
  by: string;
  /** Who has voted so far, in either form. */
  voters: readonly string[];
  /** Who started the action (the person who ran the command); undefined when nobody did (a playbook). */
  initiatedBy?: string | undefined;
}

/** The same person, whether named `discord:<id>` or `<id>`. */
export function sameActor(a: string, b: string): boolean {
  return actorKey(a) === actorKey(b);
}

function actorKey(actor: string): string {
  return actor.startsWith('discord:') ? actor.slice('discord:'.length) : actor;
}

/** A vote counts only when its voter has not voted yet and did not start the action. */
export function checkVote(input: VoteInput): VoteCheck {
  if (input.initiatedBy !== undefined && sameActor(input.by, input.initiatedBy)) return { ok: false, reason: 'initiator' };
  if (input.voters.some((v) => sameActor(v, input.by))) return { ok: false, reason: 'already-voted' };
  return { ok: true };
}

/** What a refused voter is told (ephemerally). */
export function voteRefusalText(reason: VoteRefusal): string {
  return reason === 'initiator'
    ? 'You started this action, so you cannot also approve it: a different responder must confirm.'
    : 'You already voted; a different responder must confirm.';
}
