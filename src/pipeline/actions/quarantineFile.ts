import { z } from 'zod';
import {
  ConfigError,
  ConflictError,
  KubernetesError,
  ProtectedTargetError,
  SentinelError,
  ValidationError,
} from '../../errors.js';
import type { KubeClients } from '../../kube/clients.js';
import { execInPod, type ExecTarget } from '../../kube/execInPod.js';
import { execFailure, isMissingPath } from '../../kube/execFailure.js';
import { resolvePodTarget } from '../../kube/resolvePodTarget.js';
import { sanitizeName } from '../evidence/sanitizeName.js';
import { checkPodPath } from '../planning/checkPodPath.js';
import { podFileInputShape } from './podFileInput.js';
import { defineAction, planned, skipped, succeeded, type ActionDeps, type ActionRequest, type ActionResult } from './types.js';

const inputSchema = z.strictObject({
  ...podFileInputShape,
  /** The file's sha256 as extracted, when known: names the quarantine file to look for on a rerun. */
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'a hex sha256')
    .transform((s) => s.toLowerCase())
    .optional(),
});

export type QuarantineFileInput = z.output<typeof inputSchema>;

export interface QuarantineFileDetails {
  namespace: string;
  pod: string;
  container: string;
  from: string;
  to: string;
  sha256: string;
  size: number;
  /** Permission bits of the quarantined file, octal (`000`). */
  mode: string;
  /** The sha256 the caller expected (from extraction), when it differs from what was quarantined. */
  expectedSha256?: string;
  notes: string[];
}

const QUARANTINE_MODE = '000';

/** The quarantine directory from settings, cleaned; refused when it is not a plain absolute directory. */
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


/** Runs an argv that must succeed; returns its stdout. */
async function run(kube: KubeClients, target: ExecTarget, argv: readonly string[]): Promise<string> {
  const result = await execInPod(kube, target, argv);
  if (result.exitCode !== 0) throw execFailure(target, argv, result);
  return result.stdout;
}

interface Entry {
  size: number;
  /** stat's %F, not following symlinks: `regular file`, `symbolic link`, `directory`… */
  type: string;
  /** Permission bits. */
  mode: number;
}

/** What `path` itself is (a symlink is reported as one); undefined when it does not exist. */
async function statEntry(kube: KubeClients, target: ExecTarget, path: string): Promise<Entry | undefined> {
  const argv = ['stat', '-c', '%s %a %F', '--', path];
  const result = await execInPod(kube, target, argv);
  if (result.exitCode !== 0) {
    if (isMissingPath(result)) return undefined;
    throw execFailure(target, argv, result);
  }
  const m = /^(\d+) ([0-7]+) ([a-z ]+)\n?$/.exec(result.stdout);
  if (!m) throw new KubernetesError(`unexpected output from stat in ${target.namespace}/${target.pod}: ${JSON.stringify(result.stdout.slice(0, 200))}`, { code: 'ExecFailed' });
  return { size: Number(m[1]), mode: parseInt(m[2]!, 8), type: m[3]! };
}

function isRegular(entry: Entry): boolean {
  return entry.type === 'regular file' || entry.type === 'regular empty file';
}

/** sha256 of a file in the pod. GNU sha256sum prefixes the line with `\` when it escapes the name. */
async function hashFile(kube: KubeClients, target: ExecTarget, path: string): Promise<string | undefined> {
  const argv = ['sha256sum', '--', path];
  const result = await execInPod(kube, target, argv);
  if (result.exitCode !== 0) {
    if (isMissingPath(result)) return undefined;
    throw execFailure(target, argv, result);
  }
  const m = /^\\?([0-9a-f]{64}) /.exec(result.stdout);
  if (!m) throw new KubernetesError(`unexpected output from sha256sum in ${target.namespace}/${target.pod}`, { code: 'ExecFailed' });
  return m[1]!;
}

function quarantineName(sha256: string, name: string): string {
  return `quarantine_${sha256.slice(0, 12)}_${name}`;
}

/**
 * Files in the quarantine directory that hold `name`: exactly
 * `quarantine_<sha12>_<name>` when the hash is known, else any sha12.
 */
async function findQuarantined(kube: KubeClients, target: ExecTarget, dir: string, name: string, sha256: string | undefined): Promise<string[]> {
  if (sha256) {
    const exact = `${dir}/${quarantineName(sha256, name)}`;
    const entry = await statEntry(kube, target, exact);
    return entry && isRegular(entry) ? [exact] : [];
  }
  // The sanitized name holds only [A-Za-z0-9._-]: no glob characters to escape.
  const pattern = `quarantine_${'[0-9a-f]'.repeat(12)}_${name}`;
  const argv = ['find', dir, '-maxdepth', '1', '-type', 'f', '-name', pattern];
  const result = await execInPod(kube, target, argv);
  if (result.exitCode !== 0) {
    if (isMissingPath(result)) return [];
    throw execFailure(target, argv, result);
  }
  const exact = new RegExp(`^quarantine_[0-9a-f]{12}_${name.replace(/[.]/g, '\\.')}$`);
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith(`${dir}/`) && exact.test(line.slice(dir.length + 1)))
    .sort();
}

function compactTime(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/**
 * Moves a file out of reach inside its pod: `mv` to
 * `<SENTINEL_QUARANTINE_DIR>/quarantine_<sha12>_<name>` (a directory created
 * with mode 700), then `chmod 000`, then checks with `stat` that the source is
 * gone and the copy has mode 000. Only regular files under
 * SENTINEL_QUARANTINE_ROOTS are touched; traversal, paths outside the roots or
 * inside the quarantine directory are refused before any exec. A rerun that no
 * longer finds the file but finds its quarantined copy is `skipped`. Nothing is
 * ever deleted or overwritten: a second copy of already quarantined content
 * gets a `.dup-<time>` suffix. Commands run as argv, never through a shell.
 */
export async function quarantineFile(
  request: ActionRequest<QuarantineFileInput>,
  deps: ActionDeps,
): Promise<ActionResult<QuarantineFileDetails | Record<string, unknown>>> {
  const { input } = request;
  const dir = quarantineDirOf(deps);
  const path = checkPodPath(input.path, deps.settings.quarantineRoots);
  if (path === dir || path.startsWith(`${dir}/`)) {
    throw new ProtectedTargetError(`refusing ${JSON.stringify(path)}: it is inside the quarantine directory ${dir}`, { code: 'PathInQuarantine' });
  }
  const kube = requireKube(deps);
  const target = await resolvePodTarget(kube, input);
  const what = `${JSON.stringify(path)} in ${target.namespace}/${target.pod} (container ${target.container})`;
  const base = { namespace: target.namespace, pod: target.pod, container: target.container, from: path };
  const name = sanitizeName(path);

  const entry = await statEntry(kube, target, path);
  const sha256 = entry && isRegular(entry) ? await hashFile(kube, target, path) : undefined;
  if (!entry || (isRegular(entry) && sha256 === undefined)) {
    const found = await findQuarantined(kube, target, dir, name, input.sha256);
    if (found.length > 0) {
      return skipped(`already quarantined at ${found.join(', ')}: ${what} no longer exists`, { ...base, to: found[0], quarantined: found, found: false });
    }
    return skipped(`file not found: ${what}, and no quarantined copy in ${dir}`, { ...base, found: false });
  }
  if (!isRegular(entry) || sha256 === undefined) {
    const hint = entry.type === 'symbolic link' ? ' (quarantine the file it points to)' : '';
    throw new ValidationError(`${what} is a ${entry.type}, not a regular file${hint}: only regular files are quarantined`, { code: 'NotRegularFile' });
  }

  const notes: string[] = [];
  const mismatch = input.sha256 !== undefined && input.sha256 !== sha256;
  if (mismatch) notes.push(`the file's content changed since extraction (expected sha256 ${input.sha256}, found ${sha256}); quarantining what is there now`);

  // Never overwrite: an existing copy with the same content means this is a second copy; anything else is a conflict.
  let to = `${dir}/${quarantineName(sha256, name)}`;
  const existing = await statEntry(kube, target, to);
  if (existing) {
    const existingSha = isRegular(existing) ? await hashFile(kube, target, to).catch(() => undefined) : undefined;
    if (existing.mode === 0 && existingSha === undefined && isRegular(existing)) {
      // A quarantined copy (mode 000) that this container user cannot read: same name means same sha12 and name.
      notes.push(`${to} already exists (mode 000, unreadable here); keeping it and storing this copy beside it`);
    } else if (existingSha !== sha256) {
      throw new ConflictError(`${to} already exists in ${target.namespace}/${target.pod} with different content; refusing to overwrite it`, { code: 'QuarantineConflict' });
    } else {
      notes.push(`${to} already holds the same content; storing this copy beside it`);
    }
    to = `${to}.dup-${compactTime(deps.now())}`;
    if (await statEntry(kube, target, to)) {
      throw new ConflictError(`${to} already exists in ${target.namespace}/${target.pod}; try again`, { code: 'QuarantineConflict' });
    }
  }

  const steps = [
    ['mkdir', '-p', '-m', '700', '--', dir],
    ['chmod', '700', '--', dir],
    ['mv', '--', path, to],
    ['chmod', QUARANTINE_MODE, '--', to],
  ];
  const plan = {
    ...base,
    to,
    sha256,
    size: entry.size,
    mode: QUARANTINE_MODE,
    ...(mismatch ? { expectedSha256: input.sha256 } : {}),
    notes,
  };
  if (request.dryRun) return planned(`would move ${what} to ${to} and make it mode ${QUARANTINE_MODE}`, { ...plan, steps });

  await run(kube, target, steps[0]!);
  // The directory must be a real directory, not a symlink planted to redirect the move.
  const dirEntry = await statEntry(kube, target, dir);
  if (!dirEntry || dirEntry.type !== 'directory') {
    throw new ProtectedTargetError(`the quarantine directory ${dir} in ${target.namespace}/${target.pod} is a ${dirEntry?.type ?? 'missing entry'}, not a directory; refusing to move anything into it`, {
      code: 'QuarantineDirUnsafe',
    });
  }
  if ((dirEntry.mode & 0o777) !== 0o700) {
    const chmod = await execInPod(kube, target, steps[1]!);
    if (chmod.exitCode !== 0) notes.push(`could not make ${dir} mode 700: ${chmod.stderr.trim().split('\n')[0] ?? ''}`);
  }
  deps.logger.info('quarantining file', { ...base, to, sha256 });
  await run(kube, target, steps[2]!);
  // Hash the moved copy while it is still readable: the chain of custody from extraction to quarantine.
  const movedSha = await hashFile(kube, target, to);
  if (movedSha !== sha256) notes.push(`the file changed while it was being moved; the quarantined copy has sha256 ${movedSha ?? 'unknown'}`);
  await run(kube, target, steps[3]!);

  const [after, source] = [await statEntry(kube, target, to), await statEntry(kube, target, path)];
  if (!after || after.mode !== 0 || source) {
    const problems = [!after ? `${to} is missing` : after.mode !== 0 ? `${to} has mode ${after.mode.toString(8)}` : '', source ? `${path} exists again` : ''].filter(Boolean);
    throw new SentinelError(`quarantine of ${what} could not be verified: ${problems.join('; ')}`, { code: 'QuarantineNotVerified', details: { to } });
  }
  const details: QuarantineFileDetails = {
    ...base,
    to,
    sha256: movedSha ?? sha256,
    size: after.size,
    mode: QUARANTINE_MODE,
    ...(mismatch && input.sha256 ? { expectedSha256: input.sha256 } : {}),
    notes,
  };
  return succeeded(`quarantined ${what} at ${to} (mode ${QUARANTINE_MODE}, sha256 ${details.sha256.slice(0, 12)}…)`, details);
}

export const quarantineFileAction = defineAction({
  id: 'quarantine-file',
  description:
    'Move a file (under the quarantine roots) inside its pod to the quarantine directory as quarantine_<sha12>_<name> with mode 000, and verify it.',
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
