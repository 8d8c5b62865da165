import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { runSsmCommand, type PollOptions } from '../../../aws/runSsmCommand.js';
import { checkSsmParameters, SSM_DOCUMENTS, ssmDocument, ssmDocumentName } from '../../../aws/ssmDocuments.js';
import { AwsError, ConflictError, describeError, ValidationError } from '../../../errors.js';
import { putEvidence } from '../../evidence/putEvidence.js';
import type { EvidenceItem } from '../../evidence/types.js';
import {
  checkSsmRegistration,
  excerpt,
  findInstance,
  type ForensicsRunOptions,
  instanceIdSchema,
  isNotFound,
  requireEc2,
  requireRunning,
  requireS3,
  requireSsm,
  refuseProtected,
  safeIncident,
  sha256Hex,
  tagForIncident,
  type IncidentTagging,
} from '../../forensics/ec2Helpers.js';
import { parseActionInput } from '../parseActionInput.js';
import { resolveInstance } from '../resolveInstance.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

/** The only values ever sent to the capture document, each checked against one of these (and the document's own patterns). */
export const BUCKET_PATTERN = /^[a-z0-9.-]{3,63}$/;
export const KEY_PATTERN = /^[A-Za-z0-9/._+-]+$/;
/** `^[A-Za-z0-9._+-]{1,100}$`, and starting with a letter or digit (so never `.`, `..` or an option). */
export const KERNEL_RELEASE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;
export const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

function bucketProblem(b: string): string | undefined {
  if (!BUCKET_PATTERN.test(b)) return 'not an S3 bucket name ([a-z0-9.-], 3 to 63 characters)';
  if (/\.\.|\.-|-\./.test(b) || /^[.-]|[.-]$/.test(b)) return 'not an S3 bucket name';
  return undefined;
}

function keyProblem(k: string): string | undefined {
  if (!KEY_PATTERN.test(k)) return 'not an object key of letters, digits and / . _ + - only';
  if (k.startsWith('/') || k.split('/').some((s) => s === '..' || s === '.' || s === '')) return 'has an empty, . or .. segment';
  return undefined;
}

const bucketSchema = z.string().superRefine((b, ctx) => {
  const why = bucketProblem(b);
  if (why) ctx.addIssue({ code: 'custom', message: why });
});

const inputSchema = z.strictObject({
  /** The instance; or `node`, resolved as isolate-node resolves it (the Falco playbook knows the node). */
  instanceId: instanceIdSchema.optional(),
  /** A Kubernetes node name, private DNS name or provider id, when the instance id is not known. */
  node: z.string().min(1).max(253).optional(),
  /** Bucket holding LiME modules built per kernel: `<prefix>/<kernel-release>/lime.ko`. */
  limeModuleBucket: bucketSchema,
  limeModulePrefix: z
    .string()
    .max(512)
    .transform((p) => p.replace(/\/+$/, ''))
    .superRefine((p, ctx) => {
      const why = keyProblem(p);
      if (why) ctx.addIssue({ code: 'custom', message: `module prefix ${why}` });
    }),
  /** Where the image goes; the evidence bucket when absent. */
  outputBucket: bucketSchema.optional(),
  /** Seconds the capture may run (SSM execution timeout); sentinel waits a little longer. */
  timeoutSeconds: z.number().int().min(60).max(48 * 3600).default(3600),
  /** Loopback port LiME listens on (localhostonly=1). */
  port: z.number().int().min(1024).max(65535).default(4444),
  /** Region the instance's AWS CLI uses for S3; the region of sentinel's S3 client when absent. */
  region: z.string().regex(REGION_PATTERN, 'an AWS region such as ap-northeast-2').optional(),
}).refine((v) => (v.instanceId === undefined) !== (v.node === undefined), { message: 'give exactly one of instanceId and node' });

export type CaptureMemoryInput = z.input<typeof inputSchema>;

/** Exit codes of the capture document's script, and what they mean. */
export const CAPTURE_EXIT_CODES: Readonly<Record<number, string>> = {
  9: 'the SSM agent passed no parameters (interpolationType ENV_VAR needs SSM Agent 3.3.2746.0 or later) or one failed the in-script check',
  10: 'the AWS CLI is not installed on the instance',
  11: 'neither ncat nor nc is installed on the instance',
  12: 'the LiME module could not be downloaded to the instance',
  13: 'the downloaded LiME module does not match its sha256',
  14: 'a LiME module is already loaded (another capture may be running)',
  15: 'LiME did not start (insmod failed or it never listened)',
  16: 'streaming the image to S3 failed',
  17: 'LiME reported a failure after the dump',
  18: 'the image hash could not be computed',
  19: 'the image hash could not be uploaded',
};

export interface CaptureScriptParams {
  region: string;
  moduleBucket: string;
  moduleKey: string;
  /** sha256 the module must have (from its S3 metadata); not checked when absent. */
  moduleSha256?: string;
  outputBucket: string;
  /** The image; the script uploads its hash to `<imageKey>.sha256`. */
  imageKey: string;
  port: number;
  timeoutSeconds: number;
}

/**
 * The parameters of sentinel's SSM document `incident-capture-memory`
 * (deploy/ssm/incident-capture-memory.json), each checked here against the patterns above (and
 * then against the document's own allowedPattern before sending). The document's fixed script
 * (POSIX sh) reads them as environment variables: it downloads the module for this kernel,
 * checks its sha256 (unless `none`), loads it with `path=tcp:<port> format=lime localhostonly=1`
 * (LiME dumps to the first client and insmod returns when the dump is done), waits (bounded) until
 * the port listens, streams the dump through `tee` into a FIFO hashed by sha256sum and into
 * `aws s3 cp -` (a multipart upload, nothing written to the instance's disks), checks every
 * stage's exit status, uploads `<image>.sha256` and prints `SENTINEL-MEMORY sha256=<hex>`. The
 * module is unloaded and the work directory removed on exit.
 */
export function captureMemoryParameters(p: CaptureScriptParams): Record<string, string> {
  const problems = [
    REGION_PATTERN.test(p.region) ? undefined : 'region',
    bucketProblem(p.moduleBucket) && 'module bucket',
    keyProblem(p.moduleKey) && 'module key',
    p.moduleSha256 === undefined || SHA256_PATTERN.test(p.moduleSha256) ? undefined : 'module sha256',
    bucketProblem(p.outputBucket) && 'output bucket',
    keyProblem(p.imageKey) && 'image key',
    Number.isInteger(p.port) && p.port >= 1024 && p.port <= 65535 ? undefined : 'port',
    Number.isInteger(p.timeoutSeconds) && p.timeoutSeconds > 0 && p.timeoutSeconds <= 172_800 ? undefined : 'timeout',
  ].filter(Boolean);
  if (problems.length) throw new ValidationError(`refusing to build the capture parameters: invalid ${problems.join(', ')}`, { code: 'InvalidCaptureParameter' });
  return {
    region: p.region,
    moduleBucket: p.moduleBucket,
    moduleKey: p.moduleKey,
    moduleSha256: p.moduleSha256 ?? 'none',
    outputBucket: p.outputBucket,
    imageKey: p.imageKey,
    port: String(p.port),
    executionTimeout: String(p.timeoutSeconds),
  };
}

export interface MemoryCaptureRecord {
  version: 1;
  instanceId: string;
  incidentId: string;
  kernelRelease: string;
  module: string;
  moduleSha256: string | null;
  image: string;
  sha256: string;
  size: number;
  ssmCommandId: string;
  capturedAt: string;
  actor: string;
}

export interface CaptureMemoryDetails {
  instanceId: string;
  /** The sentinel:incident tag the instance was given (or already had) before anything was sent. */
  incidentTag?: IncidentTagging;
  /** True only when an image and its hash exist (captured now, or by an earlier run). */
  memoryCaptured: boolean;
  alreadyCaptured?: boolean;
  kernelRelease?: string;
  module?: string;
  location?: string;
  sha256?: string;
  size?: number;
  record?: string;
  ssmCommandId?: string;
  evidence?: EvidenceItem;
  notes: string[];
}

/** `evidence/<incident>/memory/<instance>` in the output bucket. */
export function memoryPrefix(incidentId: string, instanceId: string): string {
  return `evidence/${safeIncident(incidentId)}/memory/${instanceId}`;
}

/** The record of a successful capture: its existence means "captured" for reruns. */
export function memoryRecordKey(incidentId: string, instanceId: string): string {
  return `${memoryPrefix(incidentId, instanceId)}/capture.json`;
}

function attemptId(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function failed(summary: string, error: string, final: boolean, details: Record<string, unknown>): ActionResult<Record<string, unknown>> {
  return { status: 'failed', summary, details: { error, final, memoryCaptured: false, ...details } };
}

async function headObject(s3: S3Client, bucket: string, key: string): Promise<{ size: number; metadata: Record<string, string> } | undefined> {
  try {
    const out = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: out.ContentLength ?? 0, metadata: out.Metadata ?? {} };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw new AwsError(`HeadObject s3://${bucket}/${key} failed: ${describeError(err)}`, { cause: err });
  }
}

async function getText(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return (await out.Body?.transformToString('utf-8')) ?? '';
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw new AwsError(`GetObject s3://${bucket}/${key} failed: ${describeError(err)}`, { cause: err });
  }
}

const recordSchema = z.object({
  version: z.literal(1),
  image: z.string(),
  sha256: z.string().regex(SHA256_PATTERN),
  size: z.number(),
  kernelRelease: z.string(),
  module: z.string(),
  capturedAt: z.string(),
});

/**
 * Captures an EC2 instance's memory with LiME over SSM, streamed to S3 (nothing written to the
 * instance's disks). A protected instance is refused first. Then the instance is tagged
 * `sentinel:incident=<incident>` (the IAM policy requires it before any send), sentinel's
 * document `incident-kernel-release` runs `uname -r` (the release must match `^[A-Za-z0-9._+-]{1,100}$`,
 * starting with a letter or digit, or the run is refused), HeadObject of `<prefix>/<release>/lime.ko`
 * (missing → failed `NoLimeModule`, nothing else tried), then the document `incident-capture-memory`
 * with validated parameters only, waited for with a bounded backing-off poll
 * (timeout → failed `MemoryCaptureTimedOut`). Success is only claimed after the image and its
 * `.sha256` are read back from S3 (and agree with the script's output); then a write-once
 * `capture.json` records it, and `details.memoryCaptured` is true. A rerun that finds that
 * record is `skipped` (already captured) with its location and hash. A dry run sends nothing.
 */
export async function captureMemory(
  request: ActionRequest<CaptureMemoryInput>,
  deps: ActionDeps,
  options: ForensicsRunOptions = {},
): Promise<ActionResult<CaptureMemoryDetails | Record<string, unknown>>> {
  const input = parseActionInput(inputSchema, request.input, 'capture-memory');
  const ec2 = requireEc2(deps, 'capture memory');
  const ssm = requireSsm(deps, 'capture memory');
  const s3 = requireS3(deps, 'capture memory');
  const outputBucket = input.outputBucket ?? deps.settings.evidenceBucket;
  if (!outputBucket || bucketProblem(outputBucket)) {
    throw new ValidationError(
      outputBucket ? `the output bucket ${JSON.stringify(outputBucket)} is not a valid bucket name` : 'no output bucket: pass outputBucket or set SENTINEL_EVIDENCE_BUCKET',
      { code: 'NoOutputBucket' },
    );
  }
  const region = input.region ?? (await s3.config.region());
  if (!REGION_PATTERN.test(region)) throw new ValidationError(`the S3 region ${JSON.stringify(region)} is not a region name`, { code: 'InvalidRegion' });
  // Preflight: the instance exists and is not protected; a record of an earlier capture ends the run here.
  const instance = input.instanceId ? await findInstance(ec2, input.instanceId) : await resolveInstance(input.node!, deps);
  const instanceId = instance.InstanceId!;
  const notes: string[] = input.node ? [`node ${input.node} is instance ${instanceId}`] : [];
  const base = { instanceId, notes };
  refuseProtected(instance, deps.settings, 'captures memory');
  const recordKey = memoryRecordKey(request.incidentId, instanceId);
  const recordLocation = `s3://${outputBucket}/${recordKey}`;
  const existing = await getText(s3, outputBucket, recordKey);
  if (existing !== undefined) {
    let record;
    try {
      record = recordSchema.parse(JSON.parse(existing));
    } catch (err) {
      throw new ConflictError(`${recordLocation} exists but is not a valid capture record; check it by hand`, { cause: err, code: 'CorruptCaptureRecord' });
    }
    return skipped(`memory of ${instanceId} was already captured for this incident: ${record.image} (sha256 ${record.sha256.slice(0, 12)}…)`, {
      ...base,
      memoryCaptured: true,
      alreadyCaptured: true,
      kernelRelease: record.kernelRelease,
      module: record.module,
      location: record.image,
      sha256: record.sha256,
      size: record.size,
      record: recordLocation,
    } satisfies CaptureMemoryDetails);
  }
  requireRunning(instance, 'capture memory');
  const registration = await checkSsmRegistration(ssm, instanceId, notes);

  const prefix = memoryPrefix(request.incidentId, instanceId);
  const modulePattern = `s3://${input.limeModuleBucket}/${input.limeModulePrefix}/<kernel-release>/lime.ko`;
  const unameDocument = ssmDocument(SSM_DOCUMENTS.kernelRelease);
  const captureDocument = ssmDocument(SSM_DOCUMENTS.captureMemory);
  const documentPrefix = deps.settings.ssmDocumentPrefix;
  if (request.dryRun) {
    return planned(`would tag ${instanceId} for the incident, read its kernel release, load ${modulePattern} and stream its memory to s3://${outputBucket}/${prefix}/<time>.lime`, {
      ...base,
      memoryCaptured: false,
      ssm: registration,
      steps: [
        `CreateTags sentinel:incident on ${instanceId} (unless already there)`,
        `SSM: ${ssmDocumentName(documentPrefix, unameDocument.name)} (uname -r; the release must match ${KERNEL_RELEASE_PATTERN.source})`,
        `HeadObject ${modulePattern} (missing: stop with NoLimeModule)`,
        `SSM: ${ssmDocumentName(documentPrefix, captureDocument.name)} (LiME: insmod path=tcp:${input.port} format=lime localhostonly=1, streamed through sha256sum to S3), up to ${input.timeoutSeconds} s`,
        `read back the image and its .sha256; write ${recordLocation}`,
      ],
      imagePattern: `s3://${outputBucket}/${prefix}/<time>.lime`,
      record: recordLocation,
    });
  }

  // What the capture document would refuse fails here, before the instance is tagged or anything is sent
  // (the module key is checked once the kernel release is known).
  checkSsmParameters(
    captureDocument,
    captureMemoryParameters({ region, moduleBucket: input.limeModuleBucket, moduleKey: `${input.limeModulePrefix}/x/lime.ko`, outputBucket, imageKey: `${prefix}/${attemptId(deps.now())}.lime`, port: input.port, timeoutSeconds: input.timeoutSeconds }),
  );

  // The tag first: the IAM policy lets sentinel send incident-* documents only to tagged instances.
  const incidentTag = await tagForIncident(ec2, instance, request.incidentId, notes);
  const tagged = { ...base, incidentTag };

  const poll: PollOptions | undefined = options.poll;
  // (a) The kernel release: the only value read from the instance that is sent anywhere (checked first).
  const uname = await runSsmCommand(
    ssm,
    { instanceId, document: unameDocument, documentPrefix, parameters: {}, comment: 'sentinel capture-memory uname', deadlineMs: 120_000 },
    poll,
  );
  if (uname.status !== 'Success') {
    return failed(`cannot read the kernel release of ${instanceId} (SSM ${uname.status}${uname.stderr ? `: ${excerpt(uname.stderr, 200)}` : ''})`, 'KernelReleaseUnavailable', false, {
      ...tagged,
      ssmCommandId: uname.commandId,
    });
  }
  const release = uname.stdout.trim();
  if (release === '') {
    return failed(`uname -r on ${instanceId} printed nothing: the kernel release is unknown`, 'KernelReleaseUnavailable', false, { ...tagged, ssmCommandId: uname.commandId });
  }
  if (!KERNEL_RELEASE_PATTERN.test(release)) {
    throw new ValidationError(
      `refusing the kernel release reported by ${instanceId}: ${JSON.stringify(release.slice(0, 60))} does not match ${KERNEL_RELEASE_PATTERN.source}`,
      { code: 'InvalidKernelRelease', details: { instanceId } },
    );
  }

  // (b) The module for exactly this kernel.
  const moduleKey = `${input.limeModulePrefix}/${release}/lime.ko`;
  const moduleLocation = `s3://${input.limeModuleBucket}/${moduleKey}`;
  const moduleHead = await headObject(s3, input.limeModuleBucket, moduleKey);
  if (!moduleHead) {
    return failed(`no LiME module for kernel ${release} at ${moduleLocation}: memory was not captured (build one for this kernel, then retry)`, 'NoLimeModule', true, {
      ...tagged,
      kernelRelease: release,
      module: moduleLocation,
    });
  }
  const pinned = moduleHead.metadata.sha256;
  const moduleSha256 = pinned && SHA256_PATTERN.test(pinned) ? pinned : undefined;
  if (!moduleSha256) notes.push(`the module has no sha256 metadata: its integrity was not checked on the instance`);

  // (c) The capture.
  const attempt = attemptId(deps.now());
  const imageKey = `${prefix}/${attempt}.lime`;
  const hashKey = `${imageKey}.sha256`;
  const image = `s3://${outputBucket}/${imageKey}`;
  const parameters = captureMemoryParameters({
    region,
    moduleBucket: input.limeModuleBucket,
    moduleKey,
    ...(moduleSha256 ? { moduleSha256 } : {}),
    outputBucket,
    imageKey,
    port: input.port,
    timeoutSeconds: input.timeoutSeconds,
  });
  const capture = await runSsmCommand(
    ssm,
    {
      instanceId,
      document: captureDocument,
      documentPrefix,
      parameters,
      comment: 'sentinel capture-memory',
      deadlineMs: (input.timeoutSeconds + 120) * 1000,
    },
    poll,
  );
  const attemptDetails = { ...tagged, kernelRelease: release, module: moduleLocation, ssmCommandId: capture.commandId, attemptedImage: image };

  // (d) Timeouts and failures: honest, with what may be left behind.
  if (['WaitTimedOut', 'ExecutionTimedOut', 'TimedOut', 'DeliveryTimedOut'].includes(capture.status)) {
    const still = capture.status === 'WaitTimedOut' ? ' (the capture may still be running on the instance)' : '';
    return failed(
      `memory capture of ${instanceId} timed out (${capture.status} after ${input.timeoutSeconds} s)${still}; a partial image may remain at ${image}. Memory was not captured.`,
      'MemoryCaptureTimedOut',
      false,
      attemptDetails,
    );
  }
  if (capture.status !== 'Success') {
    const why = capture.exitCode !== undefined ? CAPTURE_EXIT_CODES[capture.exitCode] : undefined;
    return failed(
      `memory capture of ${instanceId} failed (SSM ${capture.status}${capture.exitCode !== undefined ? `, exit ${capture.exitCode}` : ''}${why ? `: ${why}` : ''})${capture.stderr ? `: ${excerpt(capture.stderr, 300)}` : ''}. Memory was not captured.`,
      'MemoryCaptureFailed',
      false,
      { ...attemptDetails, exitCode: capture.exitCode, stderr: excerpt(capture.stderr) },
    );
  }

  // (e) Trust only what is in S3: the image, its hash file, and (when printed) the script's hash.
  const imageHead = await headObject(s3, outputBucket, imageKey);
  if (!imageHead || imageHead.size === 0) {
    return failed(`the capture script reported success but ${image} is ${imageHead ? 'empty' : 'missing'}: memory was not captured`, 'MemoryImageMissing', false, attemptDetails);
  }
  const hashText = await getText(s3, outputBucket, hashKey);
  const sha256 = hashText?.trim().split(/\s+/)[0] ?? '';
  if (!SHA256_PATTERN.test(sha256)) {
    return failed(`the image ${image} exists but its hash file s3://${outputBucket}/${hashKey} is ${hashText === undefined ? 'missing' : 'not a sha256'}`, 'MemoryHashMissing', false, attemptDetails);
  }
  const printed = /^SENTINEL-MEMORY sha256=([0-9a-f]{64})$/m.exec(capture.stdout)?.[1];
  if (printed && printed !== sha256) {
    return failed(`the image hash in S3 (${sha256}) differs from the one the capture printed (${printed}): treat ${image} as unverified`, 'MemoryHashMismatch', true, {
      ...attemptDetails,
      sha256,
      printedSha256: printed,
    });
  }
  if (!printed) notes.push('the capture printed no hash (output unavailable): the hash is the one uploaded next to the image');

  const capturedAt = deps.now().toISOString();
  const record: MemoryCaptureRecord = {
    version: 1,
    instanceId,
    incidentId: request.incidentId,
    kernelRelease: release,
    module: moduleLocation,
    moduleSha256: moduleSha256 ?? null,
    image,
    sha256,
    size: imageHead.size,
    ssmCommandId: capture.commandId,
    capturedAt,
    actor: request.actor,
  };
  const body = Buffer.from(`${JSON.stringify(record, null, 2)}\n`, 'utf8');
  await putEvidence(s3, {
    bucket: outputBucket,
    key: recordKey,
    body,
    contentLength: body.length,
    sha256: sha256Hex(body),
    contentType: 'application/json',
    metadata: { 'instance-id': instanceId, 'image-sha256': sha256, 'kernel-release': release, 'incident-id': request.incidentId, actor: request.actor, collector: deps.settings.collector },
  });
  const evidence: EvidenceItem = {
    kind: 'memory',
    location: image,
    sha256,
    size: imageHead.size,
    collector: deps.settings.collector,
    collectedAt: capturedAt,
    source: { instanceId, kernelRelease: release, module: moduleLocation, tool: 'LiME (format=lime)', ssmCommandId: capture.commandId },
  };
  return succeeded(`captured the memory of ${instanceId} (kernel ${release}, ${imageHead.size} bytes) to ${image}, sha256 ${sha256.slice(0, 12)}…`, {
    ...tagged,
    memoryCaptured: true,
    alreadyCaptured: false,
    kernelRelease: release,
    module: moduleLocation,
    location: image,
    sha256,
    size: imageHead.size,
    record: recordLocation,
    ssmCommandId: capture.commandId,
    evidence,
  } satisfies CaptureMemoryDetails);
}

export const captureMemoryAction = defineAction({
  id: 'capture-memory',
  description:
    "Capture an EC2 instance's memory (never a protected one; tagged sentinel:incident first) with sentinel's SSM documents incident-kernel-release and incident-capture-memory: the LiME module built for its kernel (looked up by `uname -r`), streamed over a loopback port through sha256sum to S3; success only once the image and its hash are read back. Missing module or timeout: an honest failure, nothing else done.",
  permissions: {
    iam: [
      'ec2:DescribeInstances',
      // sentinel:incident on the instance, before the first send (the InstanceTags statement: only sentinel's keys, never on protected instances).
      'ec2:CreateTags',
      'ssm:DescribeInstanceInformation',
      // Only document/<prefix>-incident-*, only instances tagged sentinel:incident.
      'ssm:SendCommand',
      'ssm:GetCommandInvocation',
      // HeadObject of the module (lime bucket) and of the image; GetObject of the hash and the record.
      's3:GetObject',
      // capture.json, write-once.
      's3:PutObject',
      // So a missing object reads as 404, not 403.
      's3:ListBucket',
    ],
    rbac: [],
  },
  input: inputSchema,
  run: (request, deps) => captureMemory(request, deps),
});

