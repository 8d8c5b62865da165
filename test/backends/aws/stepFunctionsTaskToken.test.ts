/**
 * Step Functions really executes on moto (execute_state_machine is on): a waitForTaskToken Task
 * sends the token to SQS and the execution waits for SendTaskSuccess / SendTaskFailure.
 * Gaps found here are listed in test/support/moto/GAPS.md.
 */
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import { captureError, createMotoClients, MOTO_ACCOUNT_ID, uniqueName, waitFor } from '../../support/aws.js';

let aws: AwsClients;
const roleArn = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/sentinel-approvals`;

interface TokenMessage {
  taskToken: string;
  input: unknown;
}

beforeAll(() => {
  aws = createMotoClients();
});

afterAll(() => destroyAwsClients(aws));

interface ApprovalMachine {
  stateMachineArn: string;
  /** The machine's own approvals queue (tests run concurrently, so nothing is shared). */
  queueUrl: string;
}

/** A one-state machine: send {taskToken, input} to its approvals queue and wait for the token. */
async function approvalStateMachine(task: { TimeoutSeconds?: number; HeartbeatSeconds?: number } = {}): Promise<ApprovalMachine> {
  const { QueueUrl: queueUrl } = await aws.sqs.send(new CreateQueueCommand({ QueueName: uniqueName('sfn-approvals') }));
  const definition = {
    StartAt: 'AskOperator',
    States: {
      AskOperator: {
        Type: 'Task',
        Resource: 'arn:aws:states:::sqs:sendMessage.waitForTaskToken',
        Parameters: {
          QueueUrl: queueUrl,
          MessageBody: { 'taskToken.$': '$$.Task.Token', 'input.$': '$' },
        },
        ...task,
        End: true,
      },
    },
  };
  const out = await aws.sfn.send(
    new CreateStateMachineCommand({ name: uniqueName('approval'), definition: JSON.stringify(definition), roleArn }),
  );
  return { stateMachineArn: out.stateMachineArn!, queueUrl: queueUrl! };
}

/** Starts an execution and returns its ARN and the token message that reached the queue. */
async function startAndReceiveToken({ stateMachineArn, queueUrl }: ApprovalMachine, input: object) {
  const { executionArn } = await aws.sfn.send(
    new StartExecutionCommand({ stateMachineArn, name: uniqueName('exec'), input: JSON.stringify(input) }),
  );
  const message = await waitFor(
    async () => {
      const out = await aws.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }),
      );
      const m = out.Messages?.[0];
      if (!m) return undefined;
      await aws.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }));
      return JSON.parse(m.Body!) as TokenMessage;
    },
    { timeoutMs: 15_000, what: 'the task-token message on SQS' },
  );
  return { executionArn: executionArn!, message };
}

async function finished(executionArn: string, timeoutMs = 15_000): Promise<DescribeExecutionCommandOutput> {
  return waitFor(
    async () => {
      const d = await aws.sfn.send(new DescribeExecutionCommand({ executionArn }));
      return d.status === 'RUNNING' ? undefined : d;
    },
    { timeoutMs, what: `execution ${executionArn} to finish` },
  );
}

// Concurrent: most of these tests wait on moto's clock, each on its own machine and queue.
describe.concurrent('Step Functions waitForTaskToken via SQS on moto', () => {
  it('puts the task token and the state input on the queue, and waits for it', async () => {
    const sm = await approvalStateMachine();
    const { executionArn, message } = await startAndReceiveToken(sm, { findingId: 'f-1' });

    expect(typeof message.taskToken).toBe('string');
    expect(message.taskToken.length).toBeGreaterThan(0);
    expect(message.input).toEqual({ findingId: 'f-1' });
    const d = await aws.sfn.send(new DescribeExecutionCommand({ executionArn }));
    expect(d.status).toBe('RUNNING');

    await aws.sfn.send(new SendTaskSuccessCommand({ taskToken: message.taskToken, output: '{}' }));
    expect((await finished(executionArn)).status).toBe('SUCCEEDED');
  });

  it('SendTaskSuccess moves the execution on: it SUCCEEDS with the output passed', async () => {
    const sm = await approvalStateMachine();
    const { executionArn, message } = await startAndReceiveToken(sm, { findingId: 'f-2' });

    const output = { decision: 'contain', operator: 'alice', at: 1_700_000_000 };
    await aws.sfn.send(new SendTaskSuccessCommand({ taskToken: message.taskToken, output: JSON.stringify(output) }));

    const d = await finished(executionArn);
    expect(d.status).toBe('SUCCEEDED');
    expect(JSON.parse(d.output!)).toEqual(output);
  });

  it('SendTaskFailure FAILS the execution with the given error (moto drops the cause)', async () => {
    const sm = await approvalStateMachine();
    const { executionArn, message } = await startAndReceiveToken(sm, { findingId: 'f-3' });

    await aws.sfn.send(
      new SendTaskFailureCommand({ taskToken: message.taskToken, error: 'Sentinel.Rejected', cause: 'operator declined' }),
    );

    const d = await finished(executionArn);
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('Sentinel.Rejected');
    // GAP: AWS reports cause "operator declined"; moto's SendTaskFailure handler never reads `cause`.
    expect(d.cause).toBeUndefined();
  });

  it('rejects an unknown task token with InvalidToken', async () => {
    // Shaped like a moto token (a UUID) and like nothing at all: moto answers both the same way.
    for (const taskToken of ['00000000-0000-4000-8000-000000000000', 'not-a-token']) {
      const err = await captureError(() => aws.sfn.send(new SendTaskSuccessCommand({ taskToken, output: '{}' })));
      expect(err.name).toBe('InvalidToken');
      expect(err.message).toBe("Invalid Token: 'Invalid token'");
      expect(err.$metadata?.httpStatusCode).toBe(400);
    }
  });

  it('rejects the token of an already finished task with InvalidToken (AWS: TaskTimedOut)', async () => {
    const sm = await approvalStateMachine();
    const { executionArn, message } = await startAndReceiveToken(sm, { findingId: 'f-4' });
    await aws.sfn.send(new SendTaskSuccessCommand({ taskToken: message.taskToken, output: '{}' }));
    await finished(executionArn);

    const err = await captureError(() =>
      aws.sfn.send(new SendTaskSuccessCommand({ taskToken: message.taskToken, output: '{}' })),
    );
    expect(err.name).toBe('InvalidToken');
  });

  it('a task that outlives TimeoutSeconds fails the execution with States.Timeout', async () => {
    const sm = await approvalStateMachine({ TimeoutSeconds: 2 });
    const { executionArn, message } = await startAndReceiveToken(sm, { findingId: 'f-5' });

    const d = await finished(executionArn, 10_000);
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('States.Timeout');
    const history = await aws.sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    const types = (history.events ?? []).map((e) => e.type);
    expect(types).toContain('TaskTimedOut');
    // (Not asserting the last event: on a loaded machine moto can record TaskSubmitted late.)
    expect(types.indexOf('ExecutionFailed')).toBeGreaterThan(types.indexOf('TaskTimedOut'));

    // A late SendTaskSuccess: AWS answers TaskTimedOut; moto answers InvalidToken.
    const late = await captureError(() =>
      aws.sfn.send(new SendTaskSuccessCommand({ taskToken: message.taskToken, output: '{}' })),
    );
    expect(late.name).toBe('InvalidToken');
    // A late SendTaskFailure: moto accepts it silently and the execution stays as it was.
    await aws.sfn.send(new SendTaskFailureCommand({ taskToken: message.taskToken, error: 'Late' }));
    expect((await aws.sfn.send(new DescribeExecutionCommand({ executionArn }))).error).toBe('States.Timeout');
  });

  it('SendTaskHeartbeat keeps a task with HeartbeatSeconds alive past that interval', async () => {
    const sm = await approvalStateMachine({ TimeoutSeconds: 60, HeartbeatSeconds: 2 });
    const { executionArn, message } = await startAndReceiveToken(sm, { findingId: 'f-hb' });

    const until = Date.now() + 3_000; // one and a half heartbeat intervals
    while (Date.now() < until) {
      await aws.sfn.send(new SendTaskHeartbeatCommand({ taskToken: message.taskToken }));
      await new Promise((r) => setTimeout(r, 300));
    }
    expect((await aws.sfn.send(new DescribeExecutionCommand({ executionArn }))).status).toBe('RUNNING');

    await aws.sfn.send(new SendTaskSuccessCommand({ taskToken: message.taskToken, output: '{"ok":true}' }));
    const d = await finished(executionArn);
    expect(d.status).toBe('SUCCEEDED');
    expect(JSON.parse(d.output!)).toEqual({ ok: true });
  });

  it('accepts SendTaskHeartbeat for a waiting task without HeartbeatSeconds, as AWS does (moto answers InvalidToken unpatched: see test/README.md)', async () => {
    const sm = await approvalStateMachine();
    const { executionArn, message } = await startAndReceiveToken(sm, { findingId: 'f-nohb' });

    await aws.sfn.send(new SendTaskHeartbeatCommand({ taskToken: message.taskToken }));
    // The task is still waiting and its token still works.
    await aws.sfn.send(new SendTaskSuccessCommand({ taskToken: message.taskToken, output: '{}' }));
    expect((await finished(executionArn)).status).toBe('SUCCEEDED');
  });

  it('a task without heartbeats within HeartbeatSeconds fails with States.Timeout', async () => {
    const sm = await approvalStateMachine({ TimeoutSeconds: 60, HeartbeatSeconds: 2 });
    const { executionArn } = await startAndReceiveToken(sm, { findingId: 'f-6' });

    const d = await finished(executionArn, 10_000);
    expect(d.status).toBe('FAILED');
    expect(d.error).toBe('States.Timeout');
    const history = await aws.sfn.send(new GetExecutionHistoryCommand({ executionArn }));
    expect((history.events ?? []).map((e) => e.type)).toContain('TaskTimedOut');
  });

  it('names an execution started without a name "None" (always pass a name)', async () => {
    const sm = await approvalStateMachine({ TimeoutSeconds: 1 });
    const first = await aws.sfn.send(new StartExecutionCommand({ stateMachineArn: sm.stateMachineArn, input: '{}' }));
    // GAP: AWS generates a UUID; moto uses the literal "None", so a second unnamed start collides.
    expect(first.executionArn).toMatch(/:None$/);
    // Same name + same input while RUNNING is AWS's idempotent retry; a different input collides.
    const second = await captureError(() =>
      aws.sfn.send(new StartExecutionCommand({ stateMachineArn: sm.stateMachineArn, input: '{"another":"case"}' })),
    );
    expect(second.name).toBe('ExecutionAlreadyExists');
  });
});
