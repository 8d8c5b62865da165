import { hash } from 'node:crypto';
import { renderTestEventMessage } from './render/testEventMessage.js';
import type { Logger } from '../logger.js';
import type { TriageResult } from '../pipeline/triage/types.js';
import type { HandlerContext, HandlerOutcome } from './context.js';

/**
 * Falcosidekick's test event (route `test`, its "Test rule"): a "wiring works" message in the
 * incident channel. No incident, no playbook, nothing else changes. The post carries a nonce made
 * from the message id, so a redelivery after a crash does not post twice.
 */
export async function handleTestEvent(triage: TriageResult, messageId: string, log: Logger, ctx: HandlerContext): Promise<HandlerOutcome> {
  const nonce = `t${hash('sha256', messageId, 'hex').slice(0, 24)}`;
  const posted = await ctx.discord.post(ctx.channelId, renderTestEventMessage(triage), { nonce });
  log.info('Falcosidekick test event: the wiring works', { rule: triage.rule, from: triage.target.node, postedMessageId: posted.messageId });
  ctx.metrics.messagesHandled.inc({ kind: 'event', outcome: 'test' });
  return 'done';
}
