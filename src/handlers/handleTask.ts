import { describeError } from '../errors.js';
import { invokeAction, type FailedDetails } from '../pipeline/invokeAction.js';
import { TaskGoneError } from '../bot/engine/stepFunctionsEngine.js';
import type { TaskMessage } from './messages.js';
import type { HandlerContext, HandlerOutcome } from './context.js';

function destroysMemory(ctx: HandlerContext, msg: TaskMessage): boolean {
  const def = ctx.actions[msg.action];
  if (!def?.destroysMemory) return false;
  if (typeof def.destroysMemory === 'boolean') return def.destroysMemory;
  const parsed = def.input.safeParse(msg.input);
  return parsed.success ? def.destroysMemory(parsed.data, ctx.actionDeps.settings) : false;
}

/**
 * A playbook step: run the pipeline action, then resume the execution with
 * SendTaskSuccess (its result) or SendTaskFailure (an error code Step
 * Functions can retry or catch). A step whose execution has gone away is
 * dropped; a failure to reach Step Functions leaves the message for a retry.
 */
export async function handleTask(msg: TaskMessage, ctx: HandlerContext): Promise<HandlerOutcome> {
  const log = ctx.logger.child({ incidentId: msg.incidentId, action: msg.action, executionName: msg.executionName });
  const def = ctx.actions[msg.action];
  try {
    if (!def) {
      log.warn('unknown action requested by a playbook');
      await ctx.engine.taskFailed(msg.taskToken, 'sentinel.UnknownAction', `no action "${msg.action}" in the registry`);
      return 'done';
    }
    if (destroysMemory(ctx, msg) && !msg.memory?.captured && !msg.memory?.waivedBy) {
      log.warn('refused: the step would destroy memory before capture or a waiver');
      await ctx.engine.taskFailed(msg.taskToken, 'sentinel.MemoryNotPreserved', `${msg.action} would destroy memory; capture it first or have a responder waive it`);
      return 'done';
    }
    const started = Date.now();
    const result = await invokeAction(def, msg.input, { actor: `stepfunctions:${msg.executionName ?? 'unknown'}`, incidentId: msg.incidentId, ...(msg.dryRun ? { dryRun: true } : {}) }, ctx.actionDeps);
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
