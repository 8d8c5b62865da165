import { SendCommandCommand, waitUntilCommandExecuted, type SSMClient } from '@aws-sdk/client-ssm';
import { AwsError } from '../errors.js';
import { runWaiter } from './runWaiter.js';
import { checkSsmParameters, ssmDocumentName, ssmDocumentStep, type SsmDocumentFile } from './ssmDocuments.js';

export interface SsmCommandRequest {
  instanceId: string;
  /**
   * One of sentinel's own documents (deploy/ssm, see ssmDocuments.ts): fixed script text. Nothing
   * sentinel sends is ever script text; only these parameter values, checked against the
   * document's declared patterns before the call.
   */
  document: SsmDocumentFile;
  /** The prefix the documents were created with (`<prefix>-<name>`; SENTINEL_PROVISION_PREFIX). */
  documentPrefix: string;
  parameters: Readonly<Record<string, string>>;
  comment?: string;
  /** Send full output to S3 too (GetCommandInvocation returns at most 24 000 characters). */
  output?: { bucket: string; keyPrefix: string };
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
  /** The document's deployed name. */
  documentName: string;
  /** Where the agent writes the step's full stdout in the output bucket, when asked to. */
  outputStdoutKey?: string;
}

export interface PollOptions {
  /** The waiter's first delay between polls, ms; it backs off (with the SDK's jitter) up to maxIntervalMs. */
  initialIntervalMs?: number;
  maxIntervalMs?: number;
}

/** What GetCommandInvocation's Status says when the waiter's failure acceptor stops it. */
const FAILURE_STATUSES: Readonly<Record<string, SsmTerminalStatus>> = { Failed: 'Failed', Cancelled: 'Cancelled', TimedOut: 'TimedOut', Cancelling: 'Cancelled' };

/**
 * Runs one of sentinel's SSM documents with SSM Run Command and waits for it with the SDK's
 * waiter, waitUntilCommandExecuted: it polls GetCommandInvocation with backoff and jitter (no
 * fixed sleeps) through InvocationDoesNotExist, Pending, InProgress and Delayed, until Success,
 * or a failure state (Failed, Cancelled, TimedOut; Cancelling is reported as Cancelled), or the
 * deadline. The parameters are checked against the document first (ValidationError
 * `InvalidSsmParameter`, nothing sent). Returns the terminal status with the invocation's output,
 * or `WaitTimedOut` when the deadline passes first. Failures to reach SSM are errors, also while
 * waiting: any error other than InvocationDoesNotExist ends the wait at once (the waiter alone
 * would retry it until the deadline).
 */
export async function runSsmCommand(ssm: SSMClient, req: SsmCommandRequest, poll: PollOptions = {}): Promise<SsmCommandResult> {
  const Parameters = checkSsmParameters(req.document, req.parameters);
  const documentName = ssmDocumentName(req.documentPrefix, req.document.name);
  let sent;
  try {
    sent = await ssm.send(
      new SendCommandCommand({
        InstanceIds: [req.instanceId],
        DocumentName: documentName,
        Comment: req.comment?.slice(0, 100),
        Parameters,
        ...(req.output ? { OutputS3BucketName: req.output.bucket, OutputS3KeyPrefix: req.output.keyPrefix } : {}),
      }),
    );
  } catch (err) {
    throw new AwsError(`cannot send the SSM command to ${req.instanceId}: ${(err as Error).message}`, { cause: err, code: (err as { name?: string }).name ?? 'SsmSendFailed' });
  }
  const commandId = sent.Command?.CommandId;
  if (!commandId) throw new AwsError('SSM returned no command id', { code: 'SsmNoCommandId' });

  const waited = await runWaiter(
    waitUntilCommandExecuted,
    ssm,
    { CommandId: commandId, InstanceId: req.instanceId },
    { maxWaitSeconds: (req.deadlineMs ?? 10 * 60_000) / 1000, minDelaySeconds: (poll.initialIntervalMs ?? 500) / 1000, maxDelaySeconds: (poll.maxIntervalMs ?? 5000) / 1000 },
    // Right after SendCommand the invocation may not exist yet; anything else will not get better by waiting.
    { error: (err) => ((err as { name?: string }).name === 'InvocationDoesNotExist' ? undefined : new AwsError(`cannot read SSM command ${commandId}: ${(err as Error).message}`, { cause: err })) },
  );
  const inv = waited.last;
  const status = waited.state === 'success' ? 'Success' : waited.state === 'failure' ? FAILURE_STATUSES[inv?.Status ?? ''] : undefined;
  if (!inv || !status) return { commandId, status: 'WaitTimedOut', exitCode: undefined, stdout: '', stderr: '', documentName };
  return {
    commandId,
    status,
    exitCode: inv.ResponseCode === undefined || inv.ResponseCode === -1 ? undefined : inv.ResponseCode,
    stdout: inv.StandardOutputContent ?? '',
    stderr: inv.StandardErrorContent ?? '',
    documentName,
    ...(req.output ? { outputStdoutKey: `${req.output.keyPrefix}/${commandId}/${req.instanceId}/awsrunShellScript/${ssmDocumentStep(req.document)}/stdout` } : {}),
  };
}
