import { randomBytes } from 'node:crypto';
import { ProtectedTargetError } from '../errors.js';
import type { KubeClients } from './clients.js';
import { execFailure } from './execFailure.js';
import { execInPod, type ExecTarget } from './execInPod.js';
import { execUserOf } from './execUserOf.js';
import { statInPod, type PodEntry } from './statInPod.js';

/**
 * The quarantine directory inside a pod, as sentinel keeps it: created by sentinel with
 * `mkdir -m 700` (never `-p` for the directory itself, so an entry someone else made first is
 * never taken for ours), owned by the user sentinel's commands run as (root when the container
 * runs as root), mode 0700, not a symlink, in a parent that no other user can rename it out of.
 * It is checked again before every use. When the configured name is taken by something else (a
 * directory another user made, a world-writable one, a symlink, a file), that entry is left alone
 * and reported, and sentinel uses a directory of its own beside it: `<dir>.<16 hex>`, an
 * unguessable name it creates itself (or one it created earlier, checked the same way).
 */
export interface QuarantineDir {
  /** Where quarantined files go (the configured directory, or an alternate beside it). */
  dir: string;
  /** The uid that owns it: the user sentinel's commands run as in the container. */
  uid: number;
  /** `ready`: it exists and passed the checks; `created`: sentinel made it now; `would-create`: a dry run's plan. */
  state: 'ready' | 'created' | 'would-create';
  /** What was found and done (an unsafe entry at the configured name, a mode fixed…). */
  notes: string[];
}

const DIR_MODE = 0o700;
const ALTERNATE_SUFFIX = /^\.[0-9a-f]{16}$/;

function dirnameOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(3, '0');
}

/** fnmatch-escaped, for `find -name`. */
function globEscape(name: string): string {
  return name.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

/** Whether `path` is the quarantine directory or one of sentinel's alternates beside it (or inside either). */
export function isInQuarantineArea(path: string, dir: string): boolean {
  if (path === dir || path.startsWith(`${dir}/`)) return true;
  if (!path.startsWith(`${dir}.`)) return false;
  const rest = path.slice(dir.length);
  const slash = rest.indexOf('/');
  return ALTERNATE_SUFFIX.test(slash < 0 ? rest : rest.slice(0, slash));
}

/** Why `entry` is not a quarantine directory sentinel can trust ([] when it is one, mode aside). */
function problemsOf(entry: PodEntry, uid: number): string[] {
  if (entry.type !== 'directory') return [`is a ${entry.type}, not a directory`];
  const problems: string[] = [];
  if (entry.uid !== uid) problems.push(`is owned by uid ${entry.uid}, not by the user sentinel runs as in the container (uid ${uid})`);
  if ((entry.mode & 0o022) !== 0) problems.push(`is writable by other users (mode ${octal(entry.mode)})`);
  return problems;
}

/** Refuses a parent another user could rename the directory out of (writable by others without the sticky bit, or owned by someone else). */
function checkParent(parent: string, entry: PodEntry | undefined, uid: number, where: string): void {
  const problem = !entry
    ? 'does not exist'
    : entry.type !== 'directory'
      ? `is a ${entry.type}`
      : entry.uid !== 0 && entry.uid !== uid
        ? `is owned by uid ${entry.uid} (neither root nor uid ${uid})`
        : (entry.mode & 0o022) !== 0 && (entry.mode & 0o1000) === 0
          ? `is writable by other users without the sticky bit (mode ${octal(entry.mode)})`
          : undefined;
  if (problem) {
    throw new ProtectedTargetError(`the quarantine directory's parent ${parent} in ${where} ${problem}: another user could replace the quarantine directory; set SENTINEL_QUARANTINE_DIR elsewhere`, {
      code: 'QuarantineDirUnsafe',
    });
  }
}

async function mkdirOwn(kube: KubeClients, target: ExecTarget, dir: string): Promise<'created' | 'exists'> {
  const argv = ['mkdir', '-m', '700', '--', dir];
  const result = await execInPod(kube, target, argv);
  if (result.exitCode === 0) return 'created';
  if (/File exists/.test(result.stderr)) return 'exists';
  const failure = execFailure(target, argv, result);
  if (/Permission denied|Read-only file system/.test(result.stderr)) {
    failure.message += `: the container's user cannot create ${dir}; set SENTINEL_QUARANTINE_DIR to a directory it can create, outside world-writable directories`;
  }
  throw failure;
}

/** Sentinel's alternates beside `dir` (`<dir>.<16 hex>`), sorted. */
async function alternatesOf(kube: KubeClients, target: ExecTarget, dir: string): Promise<string[]> {
  const parent = dirnameOf(dir);
  const base = dir.slice(parent === '/' ? 1 : parent.length + 1);
  const argv = ['find', parent, '-mindepth', '1', '-maxdepth', '1', '-name', `${globEscape(base)}.*`, '-print0'];
  const result = await execInPod(kube, target, argv);
  if (result.exitCode !== 0) throw execFailure(target, argv, result);
  return result.stdout
    .split('\0')
    .filter((p) => p.startsWith(`${dir}.`) && ALTERNATE_SUFFIX.test(p.slice(dir.length)))
    .sort();
}

/**
 * The quarantine directories of a pod that pass the checks (the configured one and sentinel's
 * alternates): where a rerun looks for a file it quarantined before. Read-only.
 */
export async function trustedQuarantineDirs(kube: KubeClients, target: ExecTarget, dir: string): Promise<string[]> {
  const uid = await execUserOf(kube, target);
  const out: string[] = [];
  for (const d of [dir, ...(await alternatesOf(kube, target, dir).catch(() => []))]) {
    const entry = await statInPod(kube, target, d);
    if (entry && problemsOf(entry, uid).length === 0 && (entry.mode & 0o7777) === DIR_MODE) out.push(d);
  }
  return out;
}

/**
 * Finds or makes the quarantine directory (see QuarantineDir) and checks it right before use.
 * A dry run only looks (stat, find, id) and says what it would do.
 */
export async function prepareQuarantineDir(kube: KubeClients, target: ExecTarget, dir: string, options: { dryRun?: boolean } = {}): Promise<QuarantineDir> {
  const where = `${target.namespace}/${target.pod}`;
  const uid = await execUserOf(kube, target);
  const notes: string[] = [];
  const parent = dirnameOf(dir);
  const unsafe = (d: string, why: string) =>
    new ProtectedTargetError(`the quarantine directory ${d} in ${where} ${why}; refusing to move anything into it`, { code: 'QuarantineDirUnsafe' });

  let parentEntry = await statInPod(kube, target, parent, { follow: true });
  if (!parentEntry) {
    if (options.dryRun) return { dir, uid, state: 'would-create', notes: [`would create ${parent} and ${dir} (mode 700)`] };
    const argv = ['mkdir', '-p', '--', parent];
    const made = await execInPod(kube, target, argv);
    if (made.exitCode !== 0) throw execFailure(target, argv, made);
    parentEntry = await statInPod(kube, target, parent, { follow: true });
  }
  checkParent(parent, parentEntry, uid, where);

  /** Checks `d` right before use: ours, a real directory, mode 700 (fixed when only the mode is off). */
  const verify = async (d: string): Promise<string[]> => {
    const entry = await statInPod(kube, target, d);
    if (!entry) return ['does not exist'];
    const problems = problemsOf(entry, uid);
    if (problems.length) return problems;
    if ((entry.mode & 0o7777) !== DIR_MODE) {
      if (options.dryRun) {
        notes.push(`would make ${d} mode 700 (it is ${octal(entry.mode)})`);
        return [];
      }
      const argv = ['chmod', '700', '--', d];
      const fixed = await execInPod(kube, target, argv);
      if (fixed.exitCode !== 0) throw execFailure(target, argv, fixed);
      notes.push(`${d} had mode ${octal(entry.mode)}; made it 700`);
      const again = await statInPod(kube, target, d);
      if (!again || problemsOf(again, uid).length || (again.mode & 0o7777) !== DIR_MODE) return [`could not be made mode 700`];
    }
    return [];
  };

  // The configured directory: made now, or there already and ours.
  let state: QuarantineDir['state'] = 'ready';
  const existing = await statInPod(kube, target, dir);
  if (!existing) {
    if (options.dryRun) return { dir, uid, state: 'would-create', notes: [...notes, `would create ${dir} (mode 700)`] };
    if ((await mkdirOwn(kube, target, dir)) === 'created') state = 'created';
  }
  const problems = await verify(dir);
  if (problems.length === 0) return { dir, uid, state, notes };

  // Taken by something else: leave it as it is, and use a directory of sentinel's own beside it.
  notes.push(`${dir} ${problems.join(' and ')}: left as it is and not used`);
  for (const alt of await alternatesOf(kube, target, dir)) {
    if ((await verify(alt)).length === 0) {
      notes.push(`using ${alt}, created by sentinel earlier`);
      return { dir: alt, uid, state: 'ready', notes };
    }
  }
  const alt = `${dir}.${randomBytes(8).toString('hex')}`;
  if (options.dryRun) return { dir: alt, uid, state: 'would-create', notes: [...notes, `would create ${alt} (mode 700) instead`] };
  if ((await mkdirOwn(kube, target, alt)) !== 'created') throw unsafe(alt, 'appeared before sentinel could create it');
  const altProblems = await verify(alt);
  if (altProblems.length) throw unsafe(alt, altProblems.join(' and '));
  notes.push(`using ${alt}, created now`);
  return { dir: alt, uid, state: 'created', notes };
}
