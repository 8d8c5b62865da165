import { GetCommandInvocationCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { AwsError } from '../errors.js';
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
 * Runs one of sentinel's SSM documents with SSM Run Command and waits for it with a bounded,
 * backing-off poll (no fixed sleeps). The parameters are checked against the document first
 * (ValidationError `InvalidSsmParameter`, nothing sent). Returns the terminal status, or
 * `WaitTimedOut` when the deadline passes first. Failures to reach SSM are errors.
 */
export async function runSsmCommand(ssm: SSMClient, req: SsmCommandRequest, poll: PollOptions = {}): Promise<SsmCommandResult> {
  const sleep = poll.sleep ?? defaultSleep;
  const now = poll.now ?? Date.now;
  const Parameters = checkSsmParameters(req.document, req.parameters);
  const documentName = ssmDocumentName(req.documentPrefix, req.document.name);
  const deadline = now() + (req.deadlineMs ?? 10 * 60_000);
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
          documentName,
          ...(req.output ? { outputStdoutKey: `${req.output.keyPrefix}/${commandId}/${req.instanceId}/awsrunShellScript/${ssmDocumentStep(req.document)}/stdout` } : {}),
        };
      }
    } catch (err) {
      // Right after SendCommand the invocation may not exist yet.
      if ((err as { name?: string }).name !== 'InvocationDoesNotExist') {
        throw new AwsError(`cannot read SSM command ${commandId}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (now() + interval > deadline) return { commandId, status: 'WaitTimedOut', exitCode: undefined, stdout: '', stderr: '', documentName };
    interval = Math.min(maxInterval, interval * 2);
  }
}
