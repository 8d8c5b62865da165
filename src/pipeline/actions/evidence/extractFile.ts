import { createReadStream, type ReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import {
  AwsNotConfiguredError,
  ConfigError,
  describeError,
  KubernetesError,
  LimitExceededError,
  ProtectedTargetError,
  UserError,
  ValidationError,
} from '../../../errors.js';
import type { KubeClients } from '../../../kube/clients.js';
import { execInPod, type ExecTarget } from '../../../kube/execInPod.js';
import { execFailure, isMissingPath } from '../../../kube/execFailure.js';
import { resolvePodTarget } from '../../../kube/resolvePodTarget.js';
import { HashingFileSink } from '../../../kube/streamToEvidence.js';
import { evidenceKey } from '../../evidence/evidenceKey.js';
import { putEvidence, s3MetadataValue } from '../../evidence/putEvidence.js';
import type { EvidenceItem } from '../../evidence/types.js';
import { resolveInPod } from '../../../kube/resolveInPod.js';
import { checkPodPath, checkResolvedPodPath } from '../../planning/checkPodPath.js';
import { podFileInputShape, requireOnePath } from '../podFileInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const inputSchema = z.strictObject(podFileInputShape).superRefine(requireOnePath);

export type ExtractFileInput = z.output<typeof inputSchema>;

export interface ExtractFileDetails {
  namespace: string;
  pod: string;
  container: string;
  path: string;
  /** Where the path really led (`realpath -e`), when a symlink made it differ: what was read. */
  resolvedPath?: string;
  bucket: string;
  key: string;
  location: string;
  sha256: string;
  size: number;
  /** The same content was already stored under this key by an earlier run; nothing was written. */
  alreadyStored: boolean;
  evidence: EvidenceItem;
  notes: string[];
}

/** One candidate path of an ambiguous event, and what became of it. */
export interface ExtractCandidateOutcome {
  path: string;
  /** `refused`: outside the roots, a symlink out of them, not a regular file, too large… (never read). */
  status: 'succeeded' | 'skipped' | 'refused';
  summary: string;
  sha256?: string;
  location?: string;
}

export interface ExtractCandidatesDetails {
  namespace: string;
  pod: string;
  container: string;
  candidates: ExtractCandidateOutcome[];
  /** The stored files (the incident's evidence manifest reads them). */
  evidence: EvidenceItem[];
}

/** Bodies up to this size are uploaded from memory (the SDK can retry them); larger ones are streamed from the temp file. */
const BUFFERED_UPLOAD_MAX = 5 * 1024 * 1024;
/** S3 allows 2 KB of user metadata in all: a longer (encoded) path is cut and flagged. */
const PATH_METADATA_MAX = 1024;
const ZERO_SHA = '0'.repeat(64);

/**
 * Any absolute path may be read, but never through traversal: the rules of
 * checkPodPath without the roots. Returns the path with duplicate slashes removed.
 */
function checkExtractPath(path: string): string {
  if (!path.startsWith('/')) throw new ValidationError(`the path must be absolute: ${JSON.stringify(path)}`, { code: 'InvalidPath' });
  if (path.includes('\0')) throw new ValidationError('the path contains a NUL byte', { code: 'InvalidPath' });
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) {
    throw new ProtectedTargetError(`refusing a path with traversal: ${JSON.stringify(path)}`, { code: 'PathTraversal' });
  }
  if (segments.length === 0) throw new ValidationError('the path names the root directory, not a file', { code: 'InvalidPath' });
  return `/${segments.join('/')}`;
}

function requireKube(deps: ActionDeps): KubeClients {
  if (!deps.kube) throw new ConfigError('Kubernetes is not configured (no kube clients): cannot extract a file from a pod');
  return deps.kube;
}

function requireS3(deps: ActionDeps): S3Client {
  if (!deps.aws.s3) throw new AwsNotConfiguredError('S3', 'cannot store evidence');
  return deps.aws.s3;
}

function requireBucket(deps: ActionDeps): string {
  const bucket = deps.settings.evidenceBucket;
  if (!bucket) throw new ConfigError('no evidence bucket is configured (set SENTINEL_EVIDENCE_BUCKET): cannot store an extracted file', { code: 'NoEvidenceBucket' });
  return bucket;
}


interface FileFacts {
  size: number;
  /** stat's %F: `regular file`, `regular empty file`, `directory`… */
  type: string;
}

/** Size and type of the file `path` names (following symlinks, as `cat` does); undefined when there is none. */
async function statFile(kube: KubeClients, target: ExecTarget, path: string): Promise<FileFacts | undefined> {
  const argv = ['stat', '-L', '-c', '%s %F', '--', path];
  const result = await execInPod(kube, target, argv);
  if (result.exitCode !== 0) {
    if (isMissingPath(result)) return undefined;
    throw execFailure(target, argv, result);
  }
  const m = /^(\d+) ([a-z ]+)\n?$/.exec(result.stdout);
  if (!m) throw new KubernetesError(`unexpected output from stat in ${target.namespace}/${target.pod}: ${JSON.stringify(result.stdout.slice(0, 200))}`, { code: 'ExecFailed' });
  return { size: Number(m[1]), type: m[2]! };
}

/** The path as S3 metadata: cut (on a code point boundary) when its encoded form is too long. */
function pathMetadata(path: string): Record<string, string> {
  if (s3MetadataValue(path).length <= PATH_METADATA_MAX) return { path };
  const chars = [...path];
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (s3MetadataValue(chars.slice(0, mid).join('')).length <= PATH_METADATA_MAX) lo = mid;
    else hi = mid - 1;
  }
  return { path: chars.slice(0, lo).join(''), 'path-truncated': 'true' };
}

interface Scope {
  kube: KubeClients;
  s3: S3Client;
  bucket: string;
  target: ExecTarget & { container: string };
  request: ActionRequest<ExtractFileInput>;
  deps: ActionDeps;
}

/** One path: resolved in the pod first (a symlink may lead only into the roots), then read and stored. */
async function extractOne(sc: Scope, requested: string): Promise<ActionResult<ExtractFileDetails | Record<string, unknown>>> {
  const { kube, s3, bucket, target, request, deps } = sc;
  const { incidentId } = request;
  const limit = deps.settings.extractMaxBytes;
  const where = `${target.namespace}/${target.pod} (container ${target.container})`;
  const what = `${JSON.stringify(requested)} in ${where}`;
  const base = { namespace: target.namespace, pod: target.pod, container: target.container, path: requested };

  // Where the path really leads: following a symlink (the file or a directory on the way) is
  // allowed only into the quarantine roots, so a planted link cannot aim the copy elsewhere.
  const resolved = await resolveInPod(kube, target, requested);
  if (resolved === undefined) return skipped(`file not found in pod: ${what}`, { ...base, found: false });
  const path = resolved === requested ? requested : checkResolvedPodPath(requested, resolved, deps.settings.quarantineRoots);
  const via = path === requested ? {} : { resolvedPath: path };
  const facts = await statFile(kube, target, path);
  if (!facts) return skipped(`file not found in pod: ${what}`, { ...base, found: false });
  if (facts.type !== 'regular file' && facts.type !== 'regular empty file') {
    throw new ValidationError(`${what} is a ${facts.type}, not a regular file: only regular files are extracted`, { code: 'NotRegularFile' });
  }
  if (facts.size > limit) {
    throw new LimitExceededError(`${what} is ${facts.size} bytes, over the extraction limit of ${limit} bytes (SENTINEL_EXTRACT_MAX_BYTES)`, {
      code: 'FileTooLarge',
      details: { size: facts.size, limit },
    });
  }

  const sampleKey = evidenceKey(incidentId, ZERO_SHA, requested);
  const [prefix, fileName] = sampleKey.split(`/${ZERO_SHA}/`) as [string, string];
  const readArgv = ['cat', '--', path];
  if (request.dryRun) {
    return planned(`would read ${facts.size} bytes of ${what} and store them at s3://${bucket}/${prefix}/<sha256>/${fileName}`, {
      ...base,
      ...via,
      size: facts.size,
      maxBytes: limit,
      bucket,
      destinationPrefix: `s3://${bucket}/${prefix}/`,
      keyPattern: `${prefix}/<sha256>/${fileName}`,
      command: readArgv,
    });
  }

  const dir = await mkdtemp(join(tmpdir(), 'sentinel-extract-'));
  let sink: HashingFileSink | undefined;
  let upload: ReadStream | undefined;
  try {
    const file = join(dir, 'content');
    sink = new HashingFileSink(file, limit, what, (max) => new LimitExceededError(`${what} grew past the extraction limit of ${max} bytes while being read (SENTINEL_EXTRACT_MAX_BYTES)`, { code: 'FileTooLarge', details: { limit: max } }));
    const collectedAt = deps.now().toISOString();
    // At least 1 MiB/s, never less than the default two minutes.
    const timeoutMs = 120_000 + Math.ceil(facts.size / (1024 * 1024)) * 1000;
    deps.logger.debug('extracting file', { ...base, ...via, size: facts.size });
    const read = await execInPod(kube, target, readArgv, { sink, timeoutMs });
    if (read.exitCode !== 0) {
      if (isMissingPath(read)) return skipped(`file not found in pod (it disappeared before it could be read): ${what}`, { ...base, found: false });
      throw execFailure(target, readArgv, read);
    }
    const { sha256, size } = sink.result();
    const notes = size === facts.size ? [] : [`the file changed size between stat and read (${facts.size} → ${size} bytes); the stored copy is what was read`];
    if (via.resolvedPath) notes.push(`${requested} resolves to ${via.resolvedPath} (a symlink inside the roots); read ${via.resolvedPath}`);

    const key = evidenceKey(incidentId, sha256, requested);
    const metadata: Record<string, string> = {
      namespace: target.namespace,
      pod: target.pod,
      container: target.container,
      ...pathMetadata(requested),
      ...(via.resolvedPath ? { 'resolved-path': pathMetadata(via.resolvedPath).path! } : {}),
      size: String(size),
      'collected-at': collectedAt,
      collector: deps.settings.collector,
      'incident-id': incidentId,
      actor: request.actor,
    };
    let body: Buffer | ReadStream;
    if (size <= BUFFERED_UPLOAD_MAX) body = await readFile(file);
    else body = upload = createReadStream(file);
    const put = await putEvidence(s3, { bucket, key, body, contentLength: size, sha256, metadata });

    const evidence: EvidenceItem = {
      kind: 'file',
      location: put.location,
      sha256,
      size,
      collector: deps.settings.collector,
      collectedAt,
      source: { namespace: target.namespace, pod: target.pod, container: target.container, path: requested },
    };
    const details: ExtractFileDetails = {
      ...base,
      ...via,
      bucket,
      key,
      location: put.location,
      sha256,
      size,
      alreadyStored: !put.created,
      evidence,
      notes,
    };
    const summary = put.created
      ? `extracted ${what} to ${put.location} (${size} bytes, sha256 ${sha256.slice(0, 12)}…)`
      : `${what} was already stored at ${put.location} (same sha256 ${sha256.slice(0, 12)}…); nothing written`;
    return succeeded(summary, details);
  } finally {
    upload?.destroy();
    sink?.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Every candidate reading of an ambiguous path that is inside the quarantine roots (also once
 * resolved), each on its own: missing ones are skipped, the others are stored. Candidates
 * outside the roots are refused and never read. Succeeds when any was extracted.
 */
async function extractCandidates(sc: Scope, candidates: readonly string[]): Promise<ActionResult<ExtractCandidatesDetails>> {
  const outcomes: ExtractCandidateOutcome[] = [];
  const evidence: EvidenceItem[] = [];
  for (const candidate of [...new Set(candidates)]) {
    try {
      const path = checkPodPath(candidate, sc.deps.settings.quarantineRoots);
      const r = await extractOne(sc, path);
      const d = r.details as Partial<ExtractFileDetails> & { dryRun?: boolean; found?: boolean };
      if (d.evidence) evidence.push(d.evidence);
      const done = r.status === 'succeeded' || (d.dryRun === true && d.found !== false);
      outcomes.push({ path: candidate, status: done ? 'succeeded' : 'skipped', summary: r.summary, ...(d.sha256 ? { sha256: d.sha256 } : {}), ...(d.location ? { location: d.location } : {}) });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      outcomes.push({ path: candidate, status: 'refused', summary: describeError(err) });
    }
  }
  const { target } = sc;
  const stored = outcomes.filter((o) => o.status === 'succeeded');
  const details: ExtractCandidatesDetails = { namespace: target.namespace, pod: target.pod, container: target.container, candidates: outcomes, evidence };
  const tally = `${stored.length} of ${outcomes.length} candidate paths in ${target.namespace}/${target.pod}`;
  const list = outcomes.map((o) => `${JSON.stringify(o.path)}: ${o.status}`).join('; ');
  if (sc.request.dryRun) return planned(`would extract ${tally} (${list})`, details) as ActionResult<ExtractCandidatesDetails>;
  return stored.length > 0 ? succeeded(`extracted ${tally} (${list})`, details) : skipped(`extracted none of ${outcomes.length} candidate paths (${list})`, details);
}

/**
 * Copies one file out of a pod into the evidence bucket, write-once, keyed by
 * its sha256: `realpath -e` first (missing → skipped; a path that leads through a symlink must
 * end inside SENTINEL_QUARANTINE_ROOTS), `stat` of where it really is (not a regular file, or
 * larger than SENTINEL_EXTRACT_MAX_BYTES → refused), then `cat` of that path streamed through a
 * hashing, size-limited sink into a private temp file (always removed), then PutObject with
 * `If-None-Match: *` and the source as metadata. A rerun that finds the same content already
 * stored succeeds with `alreadyStored: true` (the evidence exists, which is what the caller
 * wants) and writes nothing. With `candidates` (every reading of an ambiguous path), each one
 * inside the roots is handled on its own. Commands run as argv, never through a shell.
 */
export async function extractFile(
  request: ActionRequest<ExtractFileInput>,
  deps: ActionDeps,
): Promise<ActionResult<ExtractFileDetails | ExtractCandidatesDetails | Record<string, unknown>>> {
  const { input } = request;
  const path = input.path !== undefined ? checkExtractPath(input.path) : undefined;
  const bucket = requireBucket(deps);
  const kube = requireKube(deps);
  const s3 = requireS3(deps);
  const target = await resolvePodTarget(kube, input);
  const scope: Scope = { kube, s3, bucket, target, request, deps };
  if (path !== undefined) return extractOne(scope, path);
  return extractCandidates(scope, input.candidates ?? []);
}

export const extractFileAction = defineAction({
  id: 'extract-file',
  description:
    'Copy one file out of a pod (realpath, following symlinks only into the quarantine roots; stat; then cat streamed through a sha256 and size check) into the evidence bucket, write-once, keyed by incident and sha256, with its source as metadata; or each candidate of an ambiguous path inside the roots.',
  permissions: {
    // PutObject writes (with If-None-Match); GetObject covers the HeadObject that checks an existing object on a rerun.
    iam: ['s3:PutObject', 's3:GetObject'],
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      // Exec over websockets is an HTTP GET (authorized as `get`); Kubernetes 1.31+ also checks `create`.
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
    ],
  },
  input: inputSchema,
  run: extractFile,
});
