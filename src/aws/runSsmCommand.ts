import { GetCommandInvocationCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { AwsError } from '../errors.js';

export interface SsmCommandRequest {
  instanceId: string;
  /**
   * Script lines for AWS-RunShellScript. They run in a shell on the instance:
   * only fixed text and values that passed a strict allowlist check may appear
   * here, never event data.
   */
  commands: string[];
  comment?: string;
  /** Send full output to S3 too (GetCommandInvocation returns at most 24 000 characters). */
  output?: { bucket: string; keyPrefix: string };
  /** Seconds SSM lets the script run. */
  executionTimeoutSeconds?: number;
  /** How long to wait for the result before giving up, in ms. */
  deadlineMs?: number;
}

export type SsmTerminalStatus = 'Success' | 'Failed' | 'Cancelled' | 'TimedOut' | 'Undeliverable' | 'Terminated' | 'InvalidPlatform' | 'AccessDenied' | 'DeliveryTimedOut' | 'ExecutionTimedOut';

export interface SsmCommandResult {
  commandId: string;
  status: SsmTerminalStatus | 'WaitTimedOut';
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  /** Where SSM wrote the full output, when asked to. */
  outputPrefix?: string;
}

const TERMINAL = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut', 'Undeliverable', 'Terminated', 'InvalidPlatform', 'AccessDenied', 'DeliveryTimedOut', 'ExecutionTimedOut']);

export interface PollOptions {
  /** First wait between polls; doubles up to maxIntervalMs. */
  initialIntervalMs?: number;
  maxIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs a fixed script with SSM Run Command and waits for it with a bounded,
 * backing-off poll (no fixed sleeps). Returns the terminal status, or
 * `WaitTimedOut` when the deadline passes first. Failures to reach SSM are errors.
 */
export async function runSsmCommand(ssm: SSMClient, req: SsmCommandRequest, poll: PollOptions = {}): Promise<SsmCommandResult> {
  const sleep = poll.sleep ?? defaultSleep;
  const now = poll.now ?? Date.now;
  const deadline = now() + (req.deadlineMs ?? 10 * 60_000);
  let sent;
  try {
    sent = await ssm.send(
      new SendCommandCommand({
        InstanceIds: [req.instanceId],
        DocumentName: 'AWS-RunShellScript',
        Comment: req.comment?.slice(0, 100),
        Parameters: { commands: req.commands, executionTimeout: [String(req.executionTimeoutSeconds ?? 600)] },
        ...(req.output ? { OutputS3BucketName: req.output.bucket, OutputS3KeyPrefix: req.output.keyPrefix } : {}),
      }),
    );
  } catch (err) {
    throw new AwsError(`cannot send the SSM command to ${req.instanceId}: ${(err as Error).message}`, { cause: err, code: (err as { name?: string }).name ?? 'SsmSendFailed' });
  }
  const commandId = sent.Command?.CommandId;
  if (!commandId) throw new AwsError('SSM returned no command id', { code: 'SsmNoCommandId' });

  let interval = poll.initialIntervalMs ?? 500;
  const maxInterval = poll.maxIntervalMs ?? 5000;
  for (;;) {
    await sleep(interval);
    try {
      const inv = await ssm.send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: req.instanceId }));
      if (inv.Status && TERMINAL.has(inv.Status)) {
        return {
          commandId,
          status: inv.Status as SsmTerminalStatus,
          exitCode: inv.ResponseCode === undefined || inv.ResponseCode === -1 ? undefined : inv.ResponseCode,
          stdout: inv.StandardOutputContent ?? '',
          stderr: inv.StandardErrorContent ?? '',
          ...(req.output ? { outputPrefix: `${req.output.keyPrefix}/${commandId}/${req.instanceId}` } : {}),
        };
      }
    } catch (err) {
      // Right after SendCommand the invocation may not exist yet.
      if ((err as { name?: string }).name !== 'InvocationDoesNotExist') {
        throw new AwsError(`cannot read SSM command ${commandId}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (now() + interval > deadline) return { commandId, status: 'WaitTimedOut', exitCode: undefined, stdout: '', stderr: '' };
    interval = Math.min(maxInterval, interval * 2);
  }
}
