import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { AwsError, ConfigError } from '../../errors.js';
import type { Route } from '../../pipeline/triage/types.js';
import { TASK_GONE_CODES, TaskGoneError, type PlaybookEngine, type StartResult } from '../../handlers/ports/playbookEngine.js';
import { playbookForRoute, type PlaybookKey } from './playbookForRoute.js';
import { serializeTaskOutput } from './serializeTaskOutput.js';

// The engine's errors are part of its port (handlers tell a gone task by them).
export { TASK_GONE_CODES, TaskGoneError, type TaskGoneCode } from '../../handlers/ports/playbookEngine.js';
const GONE: ReadonlySet<string> = new Set(TASK_GONE_CODES);

export type StateMachineArns = Record<PlaybookKey, string | undefined>;

function machineFor(route: Route, arns: StateMachineArns): string | undefined {
  const playbook = playbookForRoute(route);
  return playbook ? arns[playbook] : undefined;
}

function wrap(err: unknown, what: string): Error {
  const name = (err as { name?: string })?.name ?? '';
  if (GONE.has(name)) return new TaskGoneError(`${what}: the task is no longer waiting (${name})`, { cause: err, code: name });
  return new AwsError(`${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err, code: name || 'StepFunctionsError' });
}

export function createStepFunctionsEngine(sfn: SFNClient, arns: StateMachineArns): PlaybookEngine {
  return {
    async start(route, executionName, input): Promise<StartResult> {
      const arn = machineFor(route, arns);
      if (!arn) throw new ConfigError(`no state machine is configured for route ${route}`, { code: 'NoStateMachine' });
      try {
        const r = await sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: executionName, input: JSON.stringify(input) }));
        return { executionArn: r.executionArn!, started: true };
      } catch (err) {
        if ((err as { name?: string }).name === 'ExecutionAlreadyExists') {
          const executionArn = arn.replace(':stateMachine:', ':execution:') + `:${executionName}`;
          return { executionArn, started: false };
        }
        throw wrap(err, `cannot start ${executionName}`);
      }
    },
    async taskSucceeded(taskToken, output) {
      try {
        await sfn.send(new SendTaskSuccessCommand({ taskToken, output: serializeTaskOutput(output) }));
      } catch (err) {
        throw wrap(err, 'cannot resume the playbook');
      }
    },
    async taskFailed(taskToken, error, cause) {
      try {
        await sfn.send(new SendTaskFailureCommand({ taskToken, error: error.slice(0, 256), cause: cause.slice(0, 32_768) }));
      } catch (err) {
        throw wrap(err, 'cannot fail the playbook task');
      }
    },
    async heartbeat(taskToken) {
      try {
        await sfn.send(new SendTaskHeartbeatCommand({ taskToken }));
      } catch (err) {
        throw wrap(err, 'cannot heartbeat the playbook task');
      }
    },
  };
}
