import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { AwsError, ConfigError, UserError } from '../../errors.js';
import type { Route } from '../../pipeline/triage/types.js';
import type { PlaybookEngine, StartResult } from './playbookEngine.js';

/** The task token is no longer usable: the execution moved on, timed out or ended. */
export class TaskGoneError extends UserError {}

const GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

export interface StateMachineArns {
  falco: string | undefined;
  forensics: string | undefined;
  notify: string | undefined;
}

function machineFor(route: Route, arns: StateMachineArns): string | undefined {
  switch (route) {
    case 'forensics':
      return arns.forensics;
    case 'notify':
      return arns.notify;
    case 'ignore':
      return undefined;
    default:
      return arns.falco;
  }
}

function wrap(err: unknown, what: string): Error {
  const name = (err as { name?: string })?.name ?? '';
  if (GONE.has(name)) return new TaskGoneError(`${what}: the task is no longer waiting (${name})`, { cause: err, code: name });
  return new AwsError(`${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err, code: name || 'StepFunctionsError' });
}

/** Task outputs are limited to 256 KiB by Step Functions. */
function serialize(output: object): string {
  const s = JSON.stringify(output);
  if (Buffer.byteLength(s) <= 256 * 1024) return s;
  return JSON.stringify({ truncated: true, note: 'output exceeded 256 KiB', summary: (output as { summary?: unknown }).summary ?? null });
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
        await sfn.send(new SendTaskSuccessCommand({ taskToken, output: serialize(output) }));
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
