import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SSMClient } from '@aws-sdk/client-ssm';
import pLimit from 'p-limit';
import { z } from 'zod';
import { runSsmCommand, type PollOptions, type SsmCommandResult } from '../../../aws/runSsmCommand.js';
import { checkSsmParameters, SSM_DOCUMENTS, ssmDocument, ssmDocumentName, ssmDocumentSha256, type SsmDocumentFile } from '../../../aws/ssmDocuments.js';
import { AwsError, describeError } from '../../../errors.js';
import { putEvidence, s3MetadataValue } from '../../evidence/putEvidence.js';
import type { EvidenceItem } from '../../evidence/types.js';
import {
  DEFAULT_MODIFIED_WITHIN_MINUTES,
  DEFAULT_WEB_ROOTS,
  MAX_MODIFIED_WITHIN_MINUTES,
  MAX_WEB_ROOTS,
  VOLATILE_ITEM_IDS,
  volatileItems,
  webRootProblem,
  type VolatileItem,
  type VolatileItemId,
} from '../../forensics/volatileCommands.js';
import {
  INSTANCE_ID_PATTERN,
  instanceIdSchema,
  SSM_INLINE_OUTPUT_LIMIT,
  type ForensicsRunOptions,
  isNotFound,
  safeIncident,
  requireEc2,
  requireSsm,
  requireS3,
  requireEvidenceBucket,
  findInstance,
  requireRunning,
  refuseProtected,
  tagForIncident,
  type IncidentTagging,
  type SsmRegistration,
  checkSsmRegistration,
  sha256Hex,
  excerpt,
} from '../../forensics/ec2Helpers.js';
import { parseActionInput } from '../parseActionInput.js';
import { defineAction, planned, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

// ---------------------------------------------------------------------------------------------
// collect-volatile
// ---------------------------------------------------------------------------------------------

const inputSchema = z.strictObject({
  instanceId: instanceIdSchema,
  /** Roots searched for recently modified files; each `^/[A-Za-z0-9._/-]+$`, no `.`/`..` segment. */
  webRoots: z
    .array(z.string())
    .min(1)
    .max(MAX_WEB_ROOTS)
    .superRefine((roots, ctx) => {
      roots.forEach((r, i) => {
        const why = webRootProblem(r);
        if (why) ctx.addIssue({ code: 'custom', path: [i], message: `web root ${JSON.stringify(r)} ${why}` });
      });
    })
    .default([...DEFAULT_WEB_ROOTS]),
  modifiedWithinMinutes: z.number().int().min(1).max(MAX_MODIFIED_WITHIN_MINUTES).default(DEFAULT_MODIFIED_WITHIN_MINUTES),
  /** A subset of the catalogue; all items when absent. */
  items: z.array(z.enum(VOLATILE_ITEM_IDS)).min(1).optional(),
  /** SSM commands in flight at once. */
  concurrency: z.number().int().min(1).max(8).default(4),
  /** Seconds SSM lets each item's command run (and about how long sentinel waits for it). */
  itemTimeoutSeconds: z.number().int().min(10).max(3600).default(300),
  /**
   * Have SSM write each command's full output to the evidence bucket (needs s3:PutObject for the
   * instance role on `evidence/*\/volatile-ssm/*`) and read it from there: without it, output
   * past SSM's 24 000-character inline limit is cut (and flagged `truncated`).
   */
  ssmOutputToS3: z.boolean().default(false),
});

export type CollectVolatileInput = z.input<typeof inputSchema>;

export interface VolatileItemResult {
  id: VolatileItemId;
  /** The SSM document sent (`<prefix>-incident-collect-volatile`) and its parameters: nothing else is sent. */
  document: string;
  parameters: Record<string, string>;
  status: 'succeeded' | 'failed';
  /** SSM's terminal status, `WaitTimedOut`, or `SendFailed` when the command never reached SSM. */
  ssmStatus: string;
  ssmCommandId?: string;
  exitCode?: number;
  sha256?: string;
  size?: number;
  location?: string;
  /** The same content was already stored by an earlier run. */
  alreadyStored?: boolean;
  /** The output is only SSM's first 24 000 characters. */
  truncated?: boolean;
  /** Empty, though a running host always prints something for this item (see VolatileItem.alwaysPrints). */
  unexpectedlyEmpty?: boolean;
  /** Parsed records (processes, sockets, modules, files…) when the item has a parser. */
  records?: number;
  stderr?: string;
  error?: string;
}

export interface CollectVolatileDetails {
  instanceId: string;
  bucket: string;
  prefix: string;
  ssm: SsmRegistration;
  /** The sentinel:incident tag the instance was given (or already had) before anything was sent. */
  incidentTag: IncidentTagging;
  items: VolatileItemResult[];
  evidence: EvidenceItem[];
  /** Some items failed or were truncated. */
  partial: boolean;
  notes: string[];
}

/** `evidence/<incident>/volatile/<instance>/<item>/` */
export function volatilePrefix(incidentId: string, instanceId: string): string {
  return `evidence/${safeIncident(incidentId)}/volatile/${instanceId}`;
}

/** Where one item's output is stored: `evidence/<incident>/volatile/<instance>/<item>/<sha256>.txt`. */
export function volatileEvidenceKey(incidentId: string, instanceId: string, item: VolatileItemId, sha256: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error('volatileEvidenceKey needs a lowercase hex sha256');
  if (!INSTANCE_ID_PATTERN.test(instanceId)) throw new Error('volatileEvidenceKey needs an instance id');
  return `${volatilePrefix(incidentId, instanceId)}/${item}/${sha256}.txt`;
}

/** S3 allows 2 KB of user metadata in all: parameters whose encoded form is longer are stored by hash only. */
const PARAMETERS_METADATA_MAX = 1200;

/** What ran, as object metadata: the document, the sha256 of its content, and the parameters (JSON). */
function commandMetadata(documentName: string, documentSha256: string, parameters: Record<string, string>): Record<string, string> {
  const json = JSON.stringify(parameters);
  const hash = { 'ssm-parameters-sha256': sha256Hex(json) };
  return {
    'ssm-document': documentName,
    'ssm-document-sha256': documentSha256,
    ...(s3MetadataValue(json).length <= PARAMETERS_METADATA_MAX ? { 'ssm-parameters': json, ...hash } : { ...hash, 'ssm-parameters-truncated': 'true' }),
  };
}

/** The stdout the SSM agent wrote to S3 for the document's step; undefined when it wrote none. */
async function readS3Stdout(s3: S3Client, bucket: string, key: string): Promise<Buffer | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw new AwsError(`reading SSM output s3://${bucket}/${key} failed: ${describeError(err)}`, { cause: err });
  }
}

interface Context {
  request: ActionRequest<unknown>;
  deps: ActionDeps;
  ssm: SSMClient;
  s3: S3Client;
  bucket: string;
  instanceId: string;
  document: SsmDocumentFile;
  documentName: string;
  documentSha256: string;
  timeoutSeconds: number;
  ssmOutputToS3: boolean;
  poll: PollOptions | undefined;
}

/** Everything sent for one item: its parameters and the execution timeout. */
function itemParameters(item: VolatileItem, timeoutSeconds: number): Record<string, string> {
  return { ...item.parameters, executionTimeout: String(timeoutSeconds) };
}

async function collectItem(ctx: Context, item: VolatileItem): Promise<{ result: VolatileItemResult; evidence?: EvidenceItem }> {
  const { request, deps, instanceId } = ctx;
  const parameters = itemParameters(item, ctx.timeoutSeconds);
  const base = { id: item.id, document: ctx.documentName, parameters };
  let run: SsmCommandResult;
  try {
    run = await runSsmCommand(
      ctx.ssm,
      {
        instanceId,
        document: ctx.document,
        documentPrefix: deps.settings.ssmDocumentPrefix,
        parameters,
        comment: `sentinel collect-volatile ${item.id}`,
        deadlineMs: (ctx.timeoutSeconds + 30) * 1000,
        ...(ctx.ssmOutputToS3 ? { output: { bucket: ctx.bucket, keyPrefix: `evidence/${safeIncident(request.incidentId)}/volatile-ssm/${instanceId}/${item.id}` } } : {}),
      },
      ctx.poll,
    );
  } catch (err) {
    return { result: { ...base, status: 'failed', ssmStatus: 'SendFailed', error: describeError(err) } };
  }
  const common = {
    ...base,
    ssmStatus: run.status,
    ssmCommandId: run.commandId,
    ...(run.exitCode !== undefined ? { exitCode: run.exitCode } : {}),
    ...(run.stderr.trim() ? { stderr: excerpt(run.stderr) } : {}),
  };
  if (run.status !== 'Success') {
    const why = run.status === 'WaitTimedOut' ? `no result within ${ctx.timeoutSeconds + 30} s` : `SSM status ${run.status}${run.exitCode !== undefined ? `, exit ${run.exitCode}` : ''}`;
    return { result: { ...common, status: 'failed', error: why } };
  }

  try {
    let body: Buffer = Buffer.from(run.stdout, 'utf8');
    let truncated = run.stdout.length >= SSM_INLINE_OUTPUT_LIMIT;
    if (ctx.ssmOutputToS3 && run.outputStdoutKey) {
      const full = await readS3Stdout(ctx.s3, ctx.bucket, run.outputStdoutKey);
      if (full) {
        body = full;
        truncated = false;
      }
    }
    const sha256 = sha256Hex(body);
    const key = volatileEvidenceKey(request.incidentId, instanceId, item.id, sha256);
    const collectedAt = deps.now().toISOString();
    const put = await putEvidence(ctx.s3, {
      bucket: ctx.bucket,
      key,
      body,
      contentLength: body.length,
      sha256,
      contentType: 'text/plain; charset=utf-8',
      metadata: {
        'instance-id': instanceId,
        item: item.id,
        ...commandMetadata(ctx.documentName, ctx.documentSha256, parameters),
        'ssm-command-id': run.commandId,
        'exit-code': String(run.exitCode ?? ''),
        size: String(body.length),
        ...(truncated ? { truncated: 'true' } : {}),
        'collected-at': collectedAt,
        collector: deps.settings.collector,
        'incident-id': request.incidentId,
        actor: request.actor,
      },
    });
    let records: number | undefined;
    if (item.parser) {
      try {
        records = item.parser(body.toString('utf8')).length;
      } catch {
        records = undefined;
      }
    }
    const evidence: EvidenceItem = {
      kind: `volatile:${item.id}`,
      location: put.location,
      sha256,
      size: body.length,
      collector: deps.settings.collector,
      collectedAt,
      source: {
        instanceId,
        item: item.id,
        ssmDocument: ctx.documentName,
        ssmDocumentSha256: ctx.documentSha256,
        ssmParameters: JSON.stringify(parameters),
        ssmCommandId: run.commandId,
        ...(truncated ? { truncated: 'true' } : {}),
      },
    };
    return {
      result: {
        ...common,
        status: 'succeeded',
        sha256,
        size: body.length,
        location: put.location,
        alreadyStored: !put.created,
        ...(truncated ? { truncated } : {}),
        ...(body.length === 0 && item.alwaysPrints ? { unexpectedlyEmpty: true } : {}),
        ...(records !== undefined ? { records } : {}),
      },
      evidence,
    };
  } catch (err) {
    return { result: { ...common, status: 'failed', error: `collected but not stored: ${describeError(err)}` } };
  }
}

function failureNote(r: VolatileItemResult): string {
  const parts = [r.error ?? r.ssmStatus];
  if (r.stderr) parts.push(excerpt(r.stderr.replace(/\s+/g, ' '), 120));
  return `${r.id} (${parts.join(': ')})`;
}

/**
 * Collects volatile evidence (processes, connections, sockets, logins, histories, logs,
 * crontabs, authorized keys, modules, deleted binaries, recently modified web files) from a
 * running EC2 instance: sentinel's SSM document `incident-collect-volatile` once per catalogue
 * item (the item is a parameter), with bounded concurrency, so one failure loses nothing else.
 * A protected instance is refused before anything else; the instance is tagged
 * `sentinel:incident=<incident>` before the first send (the IAM policy requires it). Each output is
 * stored write-once at `evidence/<incident>/volatile/<instance>/<item>/<sha256>.txt` with the
 * document, the sha256 of its content and the parameters as metadata. `succeeded` when at least
 * one item was stored (`partial` and a summary naming each failure or cut output when not all
 * were), `failed` when none was. A dry run checks the instance and returns what would be sent,
 * sending and tagging nothing.
 */
export async function collectVolatile(
  request: ActionRequest<CollectVolatileInput>,
  deps: ActionDeps,
  options: ForensicsRunOptions = {},
): Promise<ActionResult<CollectVolatileDetails | Record<string, unknown>>> {
  const input = parseActionInput(inputSchema, request.input, 'collect-volatile');
  // Validates the web roots and minutes again (throws ValidationError) and builds every item's parameters.
  const items = volatileItems({ webRoots: input.webRoots, modifiedWithinMinutes: input.modifiedWithinMinutes }, input.items);
  const document = ssmDocument(SSM_DOCUMENTS.collectVolatile);
  const documentName = ssmDocumentName(deps.settings.ssmDocumentPrefix, document.name);
  // What the document would refuse fails here, before anything is read or sent.
  for (const item of items) checkSsmParameters(document, itemParameters(item, input.itemTimeoutSeconds));

  const ec2 = requireEc2(deps, 'collect volatile evidence');
  const ssm = requireSsm(deps, 'collect volatile evidence');
  const s3 = requireS3(deps, 'store volatile evidence');
  const bucket = requireEvidenceBucket(deps, 'store volatile evidence');
  const instanceId = input.instanceId;

  // Preflight: the instance exists, is not protected, runs, and (when it can be checked) SSM reaches it.
  const instance = await findInstance(ec2, instanceId);
  refuseProtected(instance, deps.settings, 'collects evidence');
  requireRunning(instance, 'collect volatile evidence');
  const notes: string[] = [];
  const registration = await checkSsmRegistration(ssm, instanceId, notes);
  const prefix = volatilePrefix(request.incidentId, instanceId);

  if (request.dryRun) {
    return planned(`would tag ${instanceId} for the incident, run ${documentName} ${items.length} time(s) on it and store each output at s3://${bucket}/${prefix}/<item>/<sha256>.txt`, {
      instanceId,
      bucket,
      prefix,
      keyPattern: `${prefix}/<item>/<sha256>.txt`,
      ssm: registration,
      document: documentName,
      items: items.map((i) => ({ id: i.id, description: i.description, parameters: itemParameters(i, input.itemTimeoutSeconds) })),
      concurrency: input.concurrency,
      notes,
    });
  }

  // The tag first: the IAM policy lets sentinel send incident-* documents only to tagged instances.
  const incidentTag = await tagForIncident(ec2, instance, request.incidentId, notes);

  const ctx: Context = {
    request,
    deps,
    ssm,
    s3,
    bucket,
    instanceId,
    document,
    documentName,
    documentSha256: ssmDocumentSha256(document),
    timeoutSeconds: input.itemTimeoutSeconds,
    ssmOutputToS3: input.ssmOutputToS3,
    poll: options.poll,
  };
  // At most `concurrency` commands on the instance at once (p-limit); results in the catalogue's order.
  const outcomes = await pLimit(input.concurrency).map(items, (item) => collectItem(ctx, item));
  const results = outcomes.map((o) => o.result);
  const evidence = outcomes.flatMap((o) => (o.evidence ? [o.evidence] : []));
  const failed = results.filter((r) => r.status === 'failed');
  const truncated = results.filter((r) => r.truncated);
  const empty = results.filter((r) => r.unexpectedlyEmpty);
  const stored = results.length - failed.length;

  if (stored === 0) {
    return {
      status: 'failed',
      summary: `collected none of ${results.length} volatile item(s) from ${instanceId}: ${failed.map(failureNote).join('; ')}`,
      details: { error: 'VolatileCollectionFailed', final: false, instanceId, bucket, prefix, ssm: registration, incidentTag, items: results, evidence: [], partial: true, notes },
    };
  }
  const partial = failed.length > 0 || truncated.length > 0;
  const problems = [
    ...(failed.length ? [`failed: ${failed.map(failureNote).join('; ')}`] : []),
    ...(truncated.length ? [`cut at SSM's ${SSM_INLINE_OUTPUT_LIMIT}-character limit: ${truncated.map((r) => r.id).join(', ')}`] : []),
    ...(empty.length ? [`empty, which a running host never prints (output not captured, or hidden on the host): ${empty.map((r) => r.id).join(', ')}`] : []),
  ];
  const details: CollectVolatileDetails = { instanceId, bucket, prefix, ssm: registration, incidentTag, items: results, evidence, partial, notes };
  return succeeded(
    `collected ${stored} of ${results.length} volatile item(s) from ${instanceId} into s3://${bucket}/${prefix}/${problems.length ? `; ${problems.join('; ')}` : ''}`,
    details,
  );
}

export const collectVolatileAction = defineAction({
  id: 'collect-volatile',
  description:
    "Collect volatile evidence from a running EC2 instance (never a protected one; tagged sentinel:incident first) with sentinel's SSM document incident-collect-volatile (processes, connections, listening sockets, logins, shell histories, recent logs, crontabs, authorized keys, kernel modules, deleted binaries, recently modified web files), one command per item, each output stored write-once in the evidence bucket with its sha256, the document and its parameters.",
  permissions: {
    iam: [
      'ec2:DescribeInstances',
      // sentinel:incident on the instance, before the first send (the InstanceTags statement: only sentinel's keys, never on protected instances).
      'ec2:CreateTags',
      // Preflight only; tolerated when denied.
      'ssm:DescribeInstanceInformation',
      // Only document/<prefix>-incident-*, only instances tagged sentinel:incident (see docs/permissions/forensics-collection.md).
      'ssm:SendCommand',
      'ssm:GetCommandInvocation',
      // evidence/*/volatile/*; GetObject also covers the HeadObject of a rerun and reading SSM's S3 output.
      's3:PutObject',
      's3:GetObject',
      // Only with ssmOutputToS3: an output SSM did not write (empty stdout) reads as 404, not 403.
      's3:ListBucket',
    ],
    rbac: [],
  },
  input: inputSchema,
  run: (request, deps) => collectVolatile(request, deps),
});
