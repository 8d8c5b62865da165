import type { IntakeMessage } from './ports/intake.js';
import type { MessageKind } from './messages.js';

/**
 * Who may send what. The intake queue carries events only: anything that may write to it
 * (Falcosidekick, EventBridge, a webhook) is an event source, never a playbook. The control queue
 * carries the playbooks' messages, and only the state machines' role sends there: its queue
 * policy denies everyone else, and the bot checks each message's SenderId as well.
 */

/** `<role id>` or `<role id>:<session name>` (how SQS names an assumed role's sender). */
export function senderIsRole(senderId: string | undefined, roleId: string | undefined): boolean {
  if (!senderId || !roleId) return false;
  return senderId === roleId || senderId.startsWith(`${roleId}:`);
}

/**
 * Why a message must be refused before its body is read, or undefined when its sender may use
 * its queue. Only the control queue has a sender requirement: events are refused by kind.
 */
export function refuseSender(message: IntakeMessage, stateMachineRoleId: string | undefined): string | undefined {
  if (message.source !== 'control') return undefined;
  if (!stateMachineRoleId) return 'no state-machine role id is configured (SENTINEL_SFN_ROLE_ID), so no control message can be trusted';
  if (!message.senderId) return 'the message has no SenderId';
  if (!senderIsRole(message.senderId, stateMachineRoleId)) return "the sender is not the state machines' role";
  return undefined;
}

/** Why a parsed message may not come on the queue it came on, or undefined. */
export function refuseKind(kind: MessageKind, message: IntakeMessage): string | undefined {
  if (message.source === 'intake' && kind !== 'event') return `a ${kind} message on the intake queue: playbook messages come only on the control queue`;
  if (message.source === 'control' && kind === 'event') return 'an event on the control queue: events come only on the intake queue';
  return undefined;
}
