import { describeError } from '../errors.js';
import { invokeAction, type FailedDetails } from '../pipeline/invokeAction.js';
import type { ActionDefinition } from '../pipeline/actions/types.js';
import { TaskGoneError } from './ports/playbookEngine.js';
import type { IntakeMessage } from './ports/intake.js';
import type { TaskMessage } from './messages.js';
import type { HandlerContext, HandlerOutcome } from './context.js';
import { refuseMessage } from './refuseMessage.js';
import { memoryWaiverFor } from './memoryWaiver.js';
import { auditContainmentResult, gateContainment, releaseContainmentSlot } from './gateContainment.js';
import { stepDeadline } from './stepDeadline.js';

function destroysMemory(ctx: HandlerContext, msg: TaskMessage, def: ActionDefinition): boolean {
  if (!def.destroysMemory) return false;
  if (typeof def.destroysMemory === 'boolean') return def.destroysMemory;
  const parsed = def.input.safeParse(msg.input);
  return parsed.success ? def.destroysMemory(parsed.data, ctx.actionDeps.settings) : false;
}

/**
 * Heartbeats the task every third of its HeartbeatSeconds while `run` works, so Step Functions
 * knows the step is alive (and fails it within HeartbeatSeconds once the bot is gone).
 */
async function withHeartbeats<T>(ctx: HandlerContext, msg: TaskMessage, run: () => Promise<T>): Promise<T> {
  if (!msg.heartbeatSeconds) return run();
  const log = ctx.logger.child({ incidentId: msg.incidentId, action: msg.action });
  const timer = setInterval(
    () => {
      ctx.engine.heartbeat(msg.taskToken).catch((err: unknown) => log.warn('step heartbeat failed', { reason: describeError(err) }));
    },
    Math.max(1000, Math.floor((msg.heartbeatSeconds * 1000) / 3)),
  );
  try {
    return await run();
  } finally {
    clearInterval(timer);
  }
}

/**
 * A playbook step: prove the step is live, run the pipeline action, then resume the execution
 * with SendTaskSuccess (its result) or SendTaskFailure (an error code Step Functions can retry
 * or catch).
 * - A step past its deadline (entered time, or when it was sent, plus its timeout) is refused
 *   unrun: after an outage, a step the playbook has already given up on must not act.
 * - Before acting, SendTaskHeartbeat proves the token is live; a dead, expired or unknown token
 *   is refused unrun, and audited.
 * - A step that would destroy memory needs a capture, or a responder's waiver recorded in the
 *   approval store for this incident; a waiver in the message body counts for nothing.
 * - A containment step (a block or an isolation) runs as the responders who decided Block on it
 *   (approval store only), or else automatically within SENTINEL_AUTO_CONTAINMENT_CAP; past the
 *   cap it fails with `sentinel.NeedsApproval.Cap` and the playbook asks (gateContainment.ts).
 * A step whose execution has gone away is dropped; a failure to reach Step Functions leaves the
 * message for a retry.
 */
export async function handleTask(msg: TaskMessage, meta: IntakeMessage, ctx: HandlerContext): Promise<HandlerOutcome> {
  const log = ctx.logger.child({ incidentId: msg.incidentId, action: msg.action, executionName: msg.executionName });
  const refuse = (reason: string) => refuseMessage(ctx, meta, { kind: 'task', what: 'task-refused', reason, incidentId: msg.incidentId });
  const registered = ctx.actions[msg.action];
  // Observe mode holds for every step, whatever the execution was started with.
  const dryRun = msg.dryRun === true || ctx.bot.mode === 'observe';
  try {
    const deadline = stepDeadline(msg, meta.sentAt);
    if (deadline && ctx.now().getTime() > deadline.getTime()) {
      return await refuse(`the step's deadline ${deadline.toISOString()} has passed: the playbook no longer waits for it`);
    }
    try {
      await ctx.engine.heartbeat(msg.taskToken);
    } catch (err) {
      if (err instanceof TaskGoneError) return await refuse(`the task token is not live (${err.code ?? 'gone'})`);
      throw err;
    }
    if (!registered) {
      log.warn('unknown action requested by a playbook');
      await ctx.engine.taskFailed(msg.taskToken, 'sentinel.UnknownAction', `no action "${msg.action}" in the registry`);
      return 'done';
    }
    // The action's module, imported on its first use (heartbeated: a first import may take a while;
    // a failed import is retried with the message).
    const def = await withHeartbeats(ctx, msg, () => registered.load());
    if (!dryRun && destroysMemory(ctx, msg, def) && !msg.memory?.captured) {
      const waiver = await memoryWaiverFor(ctx.approvals, msg.incidentId, msg.executionName);
      if (!waiver) {
        if (msg.memory?.waivedBy) log.warn('a memory waiver in the task body was ignored: no responder waived the capture in the approval store');
        log.warn('refused: the step would destroy memory before capture or a waiver');
        await ctx.engine.taskFailed(msg.taskToken, 'sentinel.MemoryNotPreserved', `${msg.action} would destroy memory; capture it first or have a responder waive it`);
        return 'done';
      }
      log.info('memory capture waived by a responder', { waivedBy: waiver.by.join(','), approvalId: waiver.approvalId });
    }
    // Containment: approved by responders (approval store only), or automatic and within the cap.
    const gate = await gateContainment(ctx, msg, def, dryRun);
    if (gate.kind !== 'run') {
      const [error, cause] = gate.kind === 'escalate' ? [gate.error, gate.cause] : ['sentinel.Transient', gate.cause];
      log.warn('containment step not run', { error, reason: cause });
      if (gate.kind === 'escalate') {
        await ctx.audit.append({ at: ctx.now(), who: 'sentinel', what: 'containment-escalated', incidentId: msg.incidentId, outcome: 'needs-approval', detail: { action: msg.action, executionName: msg.executionName, reason: cause, ...gate.detail } });
      }
      await ctx.engine.taskFailed(msg.taskToken, error, cause);
      return 'done';
    }
    if (gate.approval) {
      await ctx.audit.append({ at: ctx.now(), who: 'sentinel', what: 'containment-approved', incidentId: msg.incidentId, approvalId: gate.approval.approvalId, outcome: 'run', detail: { action: msg.action, executionName: msg.executionName, by: gate.approval.by } });
    }
    const started = Date.now();
    const result = await withHeartbeats(ctx, msg, () =>
      invokeAction(def, msg.input, { actor: gate.actor, incidentId: msg.incidentId, ...(gate.reason ? { reason: gate.reason } : {}), ...(dryRun ? { dryRun: true } : {}) }, ctx.actionDeps),
    );
    if (gate.reservation && result.status !== 'succeeded') await releaseContainmentSlot(ctx, gate.reservation);
    if (def.containment) await auditContainmentResult(ctx, msg, result);
    ctx.metrics.actionLatency.observe({ action: msg.action, status: result.status }, (Date.now() - started) / 1000);
    if (result.status === 'failed') {
      const details = result.details as Partial<FailedDetails>;
      const error = details.final === false ? 'sentinel.Transient' : `sentinel.${details.error ?? 'ActionFailed'}`;
      await ctx.engine.taskFailed(msg.taskToken, error, result.summary);
    } else {
      await ctx.engine.taskSucceeded(msg.taskToken, { action: msg.action, ...result });
    }
    ctx.metrics.messagesHandled.inc({ kind: 'task', outcome: result.status });
    return 'done';
  } catch (err) {
    if (err instanceof TaskGoneError) {
      log.warn('the playbook no longer waits for this step; dropped', { reason: err.code });
      ctx.metrics.messagesHandled.inc({ kind: 'task', outcome: 'gone' });
      return 'done';
    }
    log.error('task handling failed; will retry', { reason: describeError(err) });
    ctx.metrics.messagesFailed.inc({ kind: 'task' });
    return 'retry';
  }
}
