import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfigError, describeError, ProtectedTargetError, SentinelError, UserError, ValidationError } from '../../../errors.js';
import type { KubeClients } from '../../../kube/clients.js';
import { execFailure, isMissingPath } from '../../../kube/execFailure.js';
import { execInPod, type ExecTarget } from '../../../kube/execInPod.js';
import { hashInPod } from '../../../kube/hashInPod.js';
import { isInQuarantineArea, prepareQuarantineDir, trustedQuarantineDirs } from '../../../kube/prepareQuarantineDir.js';
import { resolveInPod } from '../../../kube/resolveInPod.js';
import { resolvePodTarget } from '../../../kube/resolvePodTarget.js';
import { isRegularFile, statInPod } from '../../../kube/statInPod.js';
import { sanitizeName } from '../../evidence/sanitizeName.js';
import { checkPodPath, checkResolvedPodPath } from '../../planning/checkPodPath.js';
import { podFileInputShape, requireOnePath } from '../podFileInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from '../types.js';

const inputSchema = z
  .strictObject({
    ...podFileInputShape,
    /** The file's sha256 as extracted, when known: names the quarantine file to look for on a rerun. */
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'a hex sha256')
      .transform((s) => s.toLowerCase())
      .optional(),
  })
  .superRefine((v, ctx) => {
    requireOnePath(v, ctx);
    if (v.sha256 !== undefined && v.candidates !== undefined) ctx.addIssue({ code: 'custom', path: ['sha256'], message: 'goes with a single path, not candidates' });
  });

export type QuarantineFileInput = z.output<typeof inputSchema>;

export interface QuarantineFileDetails {
  namespace: string;
  pod: string;
  container: string;
  /** The path as asked. */
  from: string;
  /** Where it really was (`realpath -e`), when a symlinked directory on the way made it differ from `from`. */
  resolvedPath?: string;
  to: string;
  sha256: string;
  size: number;
  /** Permission bits of the quarantined file, octal (`000`). */
  mode: string;
  /** The sha256 the caller expected (from extraction), when it differs from what was quarantined. */
  expectedSha256?: string;
  notes: string[];
}

/** One candidate path of an ambiguous event, and what became of it. */
export interface QuarantineCandidateOutcome {
  path: string;
  /** `refused`: outside the roots, a symlink out of them, not a regular file… (left untouched). */
  status: 'succeeded' | 'skipped' | 'refused';
  summary: string;
  to?: string;
  sha256?: string;
}

export interface QuarantineCandidatesDetails {
  namespace: string;
  pod: string;
  container: string;
  candidates: QuarantineCandidateOutcome[];
  /** Where the quarantined candidates went. */
  quarantined: string[];
}

const QUARANTINE_MODE = '000';

/** The quarantine directory from settings, cleaned; refused when it is not a plain absolute directory below /. */
function quarantineDirOf(deps: ActionDeps): string {
  const dir = deps.settings.quarantineDir;
  const segments = dir.split('/').filter((s) => s !== '');
  if (!dir.startsWith('/') || dir.includes('\0') || segments.length === 0 || segments.some((s) => s === '.' || s === '..')) {
    throw new ConfigError(`SENTINEL_QUARANTINE_DIR must be an absolute directory below / without . or .. segments: ${JSON.stringify(dir)}`);
  }
  return `/${segments.join('/')}`;
}

function requireKube(deps: ActionDeps): KubeClients {
  if (!deps.kube) throw new ConfigError('Kubernetes is not configured (no kube clients): cannot quarantine a file in a pod');
  return deps.kube;
}

/** Runs an argv that must succeed. */
async function run(kube: KubeClients, target: ExecTarget, argv: readonly string[]): Promise<void> {
  const result = await execInPod(kube, target, argv);
  if (result.exitCode !== 0) throw execFailure(target, argv, result);
}

function quarantineName(sha256: string, name: string): string {
  return `quarantine_${sha256.slice(0, 12)}_${name}`;
}

function compactTime(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

interface Scope {
  kube: KubeClients;
  target: ExecTarget & { container: string };
  dir: string;
  deps: ActionDeps;
  dryRun: boolean;
}

/**
 * Files in the pod's trusted quarantine directories that hold `name`: exactly
 * `quarantine_<sha12>_<name>` when the hash is known, else any sha12. A directory that fails
 * the checks (someone else's, a symlink) is never searched: its contents prove nothing.
 */
async function findQuarantined(s: Scope, name: string, sha256: string | undefined): Promise<string[]> {
  const found: string[] = [];
  for (const dir of await trustedQuarantineDirs(s.kube, s.target, s.dir)) {
    if (sha256) {
      const exact = `${dir}/${quarantineName(sha256, name)}`;
      const entry = await statInPod(s.kube, s.target, exact);
      if (entry && isRegularFile(entry)) found.push(exact);
      continue;
    }
    // The sanitized name holds only [A-Za-z0-9._-]: no glob characters to escape.
    const argv = ['find', dir, '-maxdepth', '1', '-type', 'f', '-name', `quarantine_${'[0-9a-f]'.repeat(12)}_${name}`];
    const result = await execInPod(s.kube, s.target, argv);
    if (result.exitCode !== 0) {
      if (isMissingPath(result)) continue;
      throw execFailure(s.target, argv, result);
    }
    const exact = new RegExp(`^quarantine_[0-9a-f]{12}_${name.replace(/[.]/g, '\\.')}$`);
    found.push(...result.stdout.split('\n').filter((line) => line.startsWith(`${dir}/`) && exact.test(line.slice(dir.length + 1))).sort());
  }
  return found;
}

/**
 * A name in the quarantine directory that nothing holds yet: `quarantine_<sha12>_<name>`, else
 * that with `.dup-<time>`, else with a random suffix too. Nothing is ever overwritten.
 */
async function freeName(s: Scope, dir: string, sha256: string, name: string, notes: string[]): Promise<string> {
  const base = `${dir}/${quarantineName(sha256, name)}`;
  const existing = await statInPod(s.kube, s.target, base);
  if (!existing) return base;
  const existingSha = isRegularFile(existing) ? await hashInPod(s.kube, s.target, base).catch(() => undefined) : undefined;
  if (existingSha === sha256) notes.push(`${base} already holds the same content; storing this copy beside it`);
  else if (existingSha === undefined && isRegularFile(existing)) notes.push(`${base} already exists (mode ${existing.mode.toString(8).padStart(3, '0')}, unreadable here); keeping it and storing this copy beside it`);
  else notes.push(`${base} already exists and holds something else (${existingSha ? `sha256 ${existingSha}` : existing.type}); keeping it and storing this copy under a unique name`);
  const dup = `${base}.dup-${compactTime(s.deps.now())}`;
  for (const candidate of [dup, `${dup}-${randomBytes(4).toString('hex')}`, `${dup}-${randomBytes(8).toString('hex')}`]) {
    if (!(await statInPod(s.kube, s.target, candidate))) return candidate;
  }
  throw new SentinelError(`no free name for ${base} in ${s.target.namespace}/${s.target.pod}`, { code: 'QuarantineConflict' });
}

/** One requested path: resolve it in the pod, re-check the roots on where it really is, then move it. */
async function quarantineOne(s: Scope, requested: string, expectedSha: string | undefined): Promise<ActionResult<QuarantineFileDetails | Record<string, unknown>>> {
  const { kube, target, deps } = s;
  const roots = deps.settings.quarantineRoots;
  const what = `${JSON.stringify(requested)} in ${target.namespace}/${target.pod} (container ${target.container})`;
  const base = { namespace: target.namespace, pod: target.pod, container: target.container, from: requested };
  const name = sanitizeName(requested);

  const missing = async () => {
    const found = await findQuarantined(s, name, expectedSha);
    if (found.length > 0) {
      return skipped(`already quarantined at ${found.join(', ')}: ${what} no longer exists`, { ...base, to: found[0], quarantined: found, found: false });
    }
    return skipped(`file not found: ${what}, and no quarantined copy in ${s.dir}`, { ...base, found: false });
  };

  // The entry itself first: a symlink is refused as such (moving it would leave its target).
  const entry = await statInPod(kube, target, requested);
  if (!entry) return missing();
  if (!isRegularFile(entry)) {
    const hint = entry.type === 'symbolic link' ? ' (quarantine the file it points to)' : '';
    throw new ValidationError(`${what} is a ${entry.type}, not a regular file${hint}: only regular files are quarantined`, { code: 'NotRegularFile' });
  }
  // Then where it really is: a symlinked directory on the way must not lead out of the roots.
  const resolved = await resolveInPod(kube, target, requested);
  if (resolved === undefined) return missing();
  const path = checkResolvedPodPath(requested, resolved, roots);
  if (isInQuarantineArea(path, s.dir)) {
    throw new ProtectedTargetError(`refusing ${what}: it is inside the quarantine directory ${s.dir}`, { code: 'PathInQuarantine' });
  }
  const notes: string[] = [];
  if (path !== requested) notes.push(`${requested} resolves to ${path} (a symlinked directory inside the roots); quarantining ${path}`);
  const sha256 = await hashInPod(kube, target, path);
  if (sha256 === undefined) return missing();
  const mismatch = expectedSha !== undefined && expectedSha !== sha256;
  if (mismatch) notes.push(`the file's content changed since extraction (expected sha256 ${expectedSha}, found ${sha256}); quarantining what is there now`);

  // The quarantine directory: sentinel's own, checked right before use.
  const qdir = await prepareQuarantineDir(kube, target, s.dir, { dryRun: s.dryRun });
  notes.push(...qdir.notes);
  if (qdir.uid !== 0) {
    notes.push(`the container runs as uid ${qdir.uid}, not root: ${qdir.dir} belongs to that user, who (like an attacker running as that user) could undo the quarantine; isolate the pod as well`);
  }
  const to = qdir.state === 'would-create' ? `${qdir.dir}/${quarantineName(sha256, name)}` : await freeName(s, qdir.dir, sha256, name, notes);
  const steps = [
    ['mv', '--', path, to],
    ['chmod', QUARANTINE_MODE, '--', to],
  ];
  const plan = {
    ...base,
    ...(path !== requested ? { resolvedPath: path } : {}),
    to,
    sha256,
    size: entry.size,
    mode: QUARANTINE_MODE,
    ...(mismatch ? { expectedSha256: expectedSha } : {}),
    notes,
  };
  if (s.dryRun) return planned(`would move ${what} to ${to} and make it mode ${QUARANTINE_MODE}`, { ...plan, steps });

  deps.logger.info('quarantining file', { ...base, path, to, sha256 });
  const moved = await execInPod(kube, target, steps[0]!);
  if (moved.exitCode !== 0) {
    // Gone between the checks and the move (another run of the same incident moved it): say where it is.
    if (isMissingPath(moved) && !(await statInPod(kube, target, path))) return missing();
    throw execFailure(target, steps[0]!, moved);
  }
  // Hash the moved copy while it is still readable: the chain of custody from extraction to quarantine.
  const movedSha = await hashInPod(kube, target, to);
  if (movedSha !== sha256) notes.push(`the file changed while it was being moved; the quarantined copy has sha256 ${movedSha ?? 'unknown'}`);
  await run(kube, target, steps[1]!);

  const [after, source] = [await statInPod(kube, target, to), await statInPod(kube, target, path)];
  if (!after || (after.mode & 0o777) !== 0 || source) {
    const problems = [!after ? `${to} is missing` : (after.mode & 0o777) !== 0 ? `${to} has mode ${after.mode.toString(8)}` : '', source ? `${path} exists again` : ''].filter(Boolean);
    throw new SentinelError(`quarantine of ${what} could not be verified: ${problems.join('; ')}`, { code: 'QuarantineNotVerified', details: { to } });
  }
  const details: QuarantineFileDetails = { ...plan, sha256: movedSha ?? sha256, size: after.size };
  return succeeded(`quarantined ${what} at ${to} (mode ${QUARANTINE_MODE}, sha256 ${details.sha256.slice(0, 12)}…)`, details);
}

/**
 * Every candidate reading of an ambiguous path, each on its own: those outside the roots (or
 * leading out of them) are refused and left alone, missing ones are skipped, the rest are
 * quarantined. Succeeds when any was quarantined (or, in a dry run, would be).
 */
async function quarantineCandidates(s: Scope, candidates: readonly string[]): Promise<ActionResult<QuarantineCandidatesDetails>> {
  const outcomes: QuarantineCandidateOutcome[] = [];
  for (const candidate of [...new Set(candidates)]) {
    try {
      const path = checkPodPath(candidate, s.deps.settings.quarantineRoots);
      if (isInQuarantineArea(path, s.dir)) throw new ProtectedTargetError(`refusing ${JSON.stringify(path)}: it is inside the quarantine directory ${s.dir}`, { code: 'PathInQuarantine' });
      const r = await quarantineOne(s, path, undefined);
      const d = r.details as Partial<QuarantineFileDetails> & { found?: boolean; dryRun?: boolean };
      const done = r.status === 'succeeded' || (d.dryRun === true && d.to !== undefined);
      outcomes.push({ path: candidate, status: done ? 'succeeded' : 'skipped', summary: r.summary, ...(d.to && d.found !== false ? { to: d.to } : {}), ...(d.sha256 ? { sha256: d.sha256 } : {}) });
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      outcomes.push({ path: candidate, status: 'refused', summary: describeError(err) });
    }
  }
  const moved = outcomes.filter((o) => o.status === 'succeeded');
  const details: QuarantineCandidatesDetails = {
    namespace: s.target.namespace,
    pod: s.target.pod,
    container: s.target.container,
    candidates: outcomes,
    quarantined: moved.flatMap((o) => (o.to ? [o.to] : [])),
  };
  const tally = `${moved.length} of ${outcomes.length} candidate paths in ${s.target.namespace}/${s.target.pod}`;
  const list = outcomes.map((o) => `${JSON.stringify(o.path)}: ${o.status}`).join('; ');
  if (s.dryRun) return planned(`would quarantine ${tally} (${list})`, details) as ActionResult<QuarantineCandidatesDetails>;
  return moved.length > 0 ? succeeded(`quarantined ${tally} (${list})`, details) : skipped(`quarantined none of ${outcomes.length} candidate paths (${list})`, details);
}

/**
 * Moves a file out of reach inside its pod: `mv` to
 * `<quarantine dir>/quarantine_<sha12>_<name>`, then `chmod 000`, then checks with `stat` that
 * the source is gone and the copy has mode 000. Only regular files under
 * SENTINEL_QUARANTINE_ROOTS are touched: traversal, paths outside the roots or inside the
 * quarantine directory are refused before any exec, and the path is resolved in the pod
 * (`realpath -e`) and the roots checked again on where it really is, so a symlinked directory
 * cannot aim the move outside them. The quarantine directory is sentinel's own (see
 * prepareQuarantineDir): created mode 700, owned by the exec user, checked before each use; an
 * entry someone else put at its name is left alone and a directory of sentinel's own is used
 * beside it. A rerun that no longer finds the file but finds its quarantined copy is `skipped`.
 * Nothing is ever deleted or overwritten: a name already taken gets a unique one. With
 * `candidates` (every reading of an ambiguous path), each is handled on its own. Commands run as
 * argv, never through a shell.
 */
export async function quarantineFile(
  request: ActionRequest<QuarantineFileInput>,
  deps: ActionDeps,
): Promise<ActionResult<QuarantineFileDetails | QuarantineCandidatesDetails | Record<string, unknown>>> {
  const { input } = request;
  const dir = quarantineDirOf(deps);
  let path: string | undefined;
  if (input.path !== undefined) {
    path = checkPodPath(input.path, deps.settings.quarantineRoots);
    if (isInQuarantineArea(path, dir)) {
      throw new ProtectedTargetError(`refusing ${JSON.stringify(path)}: it is inside the quarantine directory ${dir}`, { code: 'PathInQuarantine' });
    }
  }
  const kube = requireKube(deps);
  const target = await resolvePodTarget(kube, input);
  const scope: Scope = { kube, target, dir, deps, dryRun: request.dryRun === true };
  if (path !== undefined) return quarantineOne(scope, path, input.sha256);
  return quarantineCandidates(scope, input.candidates ?? []);
}

export const quarantineFileAction = defineAction({
  id: 'quarantine-file',
  description:
    'Move a file (under the quarantine roots, also once resolved in the pod) to sentinel\'s own quarantine directory (mode 700, checked before each use) as quarantine_<sha12>_<name> with mode 000, and verify it; or each candidate of an ambiguous path.',
  permissions: {
    iam: [],
    rbac: [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      // Exec over websockets is an HTTP GET (authorized as `get`); Kubernetes 1.31+ also checks `create`.
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
    ],
  },
  input: inputSchema,
  run: quarantineFile,
});
