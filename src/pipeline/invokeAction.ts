import { AwsNotConfiguredError, describeError, SentinelError, UserError, ValidationError } from '../errors.js';
import type { RegisteredAction } from './actions/registry.js';
import type { ActionDefinition, ActionDeps, ActionRequest, ActionResult } from './actions/types.js';
import { describeInputIssues } from './actions/parseActionInput.js';
import { planWithoutAws } from './planWithoutAws.js';

export interface InvokeOptions {
  dryRun?: boolean;
  actor: string;
  incidentId: string;
  reason?: string;
}

export interface FailedDetails {
  error: string;
  /** True for refusals and bad input: retrying cannot help. */
  final: boolean;
}

/**
 * Validates raw input against the action's schema and runs it. Errors become a
 * `failed` result with a code (the Step Functions task handler turns that into
 * SendTaskFailure; a button or command shows the summary). Every call is logged.
 * An action that needs an AWS client sentinel does not have (AwsNotConfiguredError: embedded
 * mode without credentials) becomes a `skipped` result carrying its plan instead
 * (planWithoutAws.ts): the step succeeds, the report shows what would have been done.
 */
export async function invokeAction(
  action: ActionDefinition | RegisteredAction,
  rawInput: unknown,
  options: InvokeOptions,
  deps: ActionDeps,
): Promise<ActionResult<object>> {
  const logger = deps.logger.child({ action: action.id, incidentId: options.incidentId, actor: options.actor });
  // A registered action's module is loaded on its first use (actions/registry.ts).
  let definition: ActionDefinition;
  try {
    definition = 'load' in action ? await action.load() : action;
  } catch (err) {
    logger.error('action could not be loaded', { reason: describeError(err) });
    return { status: 'failed', summary: `the ${action.id} action could not be loaded: ${describeError(err)}`, details: { error: 'InternalError', final: false } satisfies FailedDetails };
  }
  const parsed = definition.input.safeParse(rawInput);
  if (!parsed.success) {
    const why = describeInputIssues(parsed.error);
    logger.warn('action input refused', { reason: why });
    const err = new ValidationError(`invalid input for ${definition.id}: ${why}`);
    return { status: 'failed', summary: err.message, details: { error: 'InvalidInput', final: true } satisfies FailedDetails };
  }
  const request: ActionRequest<unknown> = {
    input: parsed.data,
    actor: options.actor,
    incidentId: options.incidentId,
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.reason ? { reason: options.reason } : {}),
  };
  const started = Date.now();
  try {
    const result = await definition.run(request as never, { ...deps, logger });
    logger.info('action finished', { status: result.status, summary: result.summary, dryRun: Boolean(options.dryRun), ms: Date.now() - started });
    return result;
  } catch (err) {
    if (err instanceof AwsNotConfiguredError) {
      logger.info('action not run: AWS is not configured, its plan is the result', { needs: err.services, reason: err.message, ms: Date.now() - started });
      return planWithoutAws(definition, parsed.data, err);
    }
    const user = err instanceof UserError;
    const code = err instanceof SentinelError ? err.code : 'InternalError';
    logger[user ? 'warn' : 'error']('action failed', { code, reason: describeError(err), ms: Date.now() - started });
    return { status: 'failed', summary: describeError(err), details: { error: code, final: user } satisfies FailedDetails };
  }
}
