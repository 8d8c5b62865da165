/**
 * A one-step state machine in moto that sends a playbook message to the harness's control queue
 * with `sqs:sendMessage.waitForTaskToken`, as sentinel's playbooks do, but with a message body
 * the test chooses: a real, live (or expired) task token travels with a body that claims whatever
 * the test needs (a waiver, a short timeout, a heartbeat interval).
 */
import { CreateStateMachineCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { MOTO_ACCOUNT_ID, uniqueName } from '../support/aws.js';
import type { BotHarness } from './botHarness.js';

export interface OneStepOptions {
  /** The message body (Step Functions Parameters syntax: `"key.$": "$..."` for paths). */
  body: Record<string, unknown>;
  timeoutSeconds: number;
  heartbeatSeconds?: number;
}

export interface OneStepMachine {
  arn: string;
  /** Starts an execution (named `name`, or a unique name); returns its ARN and name. */
  start(input?: object, name?: string): Promise<{ executionArn: string; executionName: string }>;
}

export async function createOneStepMachine(h: BotHarness, options: OneStepOptions): Promise<OneStepMachine> {
  const definition = {
    StartAt: 'Step',
    States: {
      Step: {
        Type: 'Task',
        Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
        Parameters: {
          QueueUrl: h.controlQueueUrl,
          MessageBody: { 'taskToken.$': '$$.Task.Token', 'executionName.$': '$$.Execution.Name', 'enteredAt.$': '$$.State.EnteredTime', ...options.body },
        },
        TimeoutSeconds: options.timeoutSeconds,
        ...(options.heartbeatSeconds ? { HeartbeatSeconds: options.heartbeatSeconds } : {}),
        End: true,
      },
    },
  };
  const out = await h.aws.sfn.send(
    new CreateStateMachineCommand({ name: uniqueName('onestep'), definition: JSON.stringify(definition), roleArn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/sentinel-sfn` }),
  );
  const arn = out.stateMachineArn!;
  return {
    arn,
    async start(input = {}, name) {
      const executionName = name ?? uniqueName('step').replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
      const started = await h.aws.sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name: executionName, input: JSON.stringify(input) }));
      return { executionArn: started.executionArn!, executionName };
    },
  };
}
