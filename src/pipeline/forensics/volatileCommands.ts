import { ValidationError } from '../../errors.js';

/**
 * The catalogue of volatile evidence collected from an EC2 instance over SSM Run Command. The
 * commands themselves are in sentinel's SSM document `incident-collect-volatile`
 * (deploy/ssm/incident-collect-volatile.json): fixed POSIX sh, one `case` branch per item. sentinel
 * sends only parameters: the item's id, and for the recently-modified-files item the web roots
 * and minutes, after `validateWebRoots` / `validateModifiedWithinMinutes` (an allowlist of
 * characters); the document checks them again with its allowedPattern and reads them as
 * environment variables. Nothing from an event, a message or an instance's output is ever sent.
 *
 * One SSM command per item (not one for all): each item is stored as its own evidence object
 * with its own sha256, one failing or slow item loses nothing else, the items run with bounded
 * concurrency, and each has SSM's 24 000-character inline output limit to itself.
 *
 * Items exit 0 when "nothing found" is a normal answer (no deleted binaries, no wtmp, no history
 * file), so a non-zero exit means the collection itself failed.
 */

export const VOLATILE_ITEM_IDS = [
  'processes',
  'network-connections',
  'listening-sockets',
  'logged-in-users',
  'last-logins',
  'shell-histories',
  'recent-logs',
  'crontabs',
  'authorized-keys',
  'kernel-modules',
  'deleted-binaries',
  'web-recent-files',
] as const;

export type VolatileItemId = (typeof VOLATILE_ITEM_IDS)[number];

/** Turns an item's stdout into records (used for counts and summaries; the raw text is the evidence). */
export type VolatileParser = (stdout: string) => Record<string, unknown>[];

export interface VolatileItem {
  id: VolatileItemId;
  description: string;
  /** What is sent for this item: the parameters of the `incident-collect-volatile` document. */
  parameters: Record<string, string>;
  parser?: VolatileParser;
  /**
   * A running Linux host always prints something here (its own processes, a header line, the boot
   * record): an empty output means the command did not really run, its output was not captured,
   * or something on the host hides it.
   */
  alwaysPrints?: true;
}

/** The recently-modified-files item's variables. */
export interface VolatileParams {
  webRoots: readonly string[];
  modifiedWithinMinutes: number;
}

export const DEFAULT_WEB_ROOTS: readonly string[] = ['/var/www'];
export const DEFAULT_MODIFIED_WITHIN_MINUTES = 1440;
export const MAX_WEB_ROOTS = 10;
export const MAX_WEB_ROOT_LENGTH = 200;
/** 30 days. */
export const MAX_MODIFIED_WITHIN_MINUTES = 43_200;
/** Lines kept per file by the recently-modified-files item (newest first). */
export const WEB_FILES_MAX_LINES = 5000;

const WEB_ROOT = /^\/[A-Za-z0-9._/-]+$/;

// ---------------------------------------------------------------------------------------------
// Validation of the only two variables.
// ---------------------------------------------------------------------------------------------

/** Why `root` is not an acceptable web root, or undefined when it is. */
export function webRootProblem(root: string): string | undefined {
  if (typeof root !== 'string') return 'not a string';
  if (root.length > MAX_WEB_ROOT_LENGTH) return `longer than ${MAX_WEB_ROOT_LENGTH} characters`;
  if (!WEB_ROOT.test(root)) return 'not an absolute path of letters, digits and . _ / - only';
  const segments = root.split('/').slice(1);
  if (segments.some((s) => s === '..' || s === '.')) return 'has a . or .. segment';
  if (segments.slice(0, -1).some((s) => s === '')) return 'has an empty segment (//)';
  if (segments.every((s) => s === '')) return 'is the root directory';
  return undefined;
}

/**
 * Checks the web roots strictly (`^/[A-Za-z0-9._/-]+$`, no `.` or `..` segments, no `//`, not
 * `/`, at most 10 of at most 200 characters) and returns them without trailing slashes and
 * duplicates. Throws ValidationError naming each bad root.
 */
export function validateWebRoots(roots: readonly string[]): string[] {
  if (!Array.isArray(roots) || roots.length === 0) throw new ValidationError('at least one web root is needed', { code: 'InvalidWebRoot' });
  if (roots.length > MAX_WEB_ROOTS) throw new ValidationError(`at most ${MAX_WEB_ROOTS} web roots`, { code: 'InvalidWebRoot' });
  const problems = roots.flatMap((r) => {
    const why = webRootProblem(r);
    return why ? [`${JSON.stringify(r)}: ${why}`] : [];
  });
  if (problems.length) throw new ValidationError(`refusing web root(s): ${problems.join('; ')}`, { code: 'InvalidWebRoot', details: { problems } });
  return [...new Set(roots.map((r) => r.replace(/\/+$/, '')))];
}

export function validateModifiedWithinMinutes(minutes: number): number {
  if (!Number.isSafeInteger(minutes) || minutes < 1 || minutes > MAX_MODIFIED_WITHIN_MINUTES) {
    throw new ValidationError(`modifiedWithinMinutes must be a whole number from 1 to ${MAX_MODIFIED_WITHIN_MINUTES}`, { code: 'InvalidMinutes' });
  }
  return minutes;
}

// ---------------------------------------------------------------------------------------------
// Parsers.
// ---------------------------------------------------------------------------------------------

function lines(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.trim() !== '');
}

const LSTART = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+([A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4})\s?(.*)$/;

/** `ps -o pid,ppid,user,lstart,args`: one record per process. */
export function parseProcesses(stdout: string): Record<string, unknown>[] {
  return lines(stdout).flatMap((line) => {
    const m = LSTART.exec(line);
    return m ? [{ pid: Number(m[1]), ppid: Number(m[2]), user: m[3], started: m[4]!.replace(/\s+/g, ' '), args: m[5] ?? '' }] : [];
  });
}

function ssProcesses(rest: string): { name: string; pid: number }[] {
  return [...rest.matchAll(/\("([^"]*)",pid=(\d+)/g)].map((m) => ({ name: m[1]!, pid: Number(m[2]) }));
}

/** `ss -tanp` (no Netid column) or `ss -tulnp` (with one): one record per socket. */
export function parseSockets(stdout: string): Record<string, unknown>[] {
  return lines(stdout).flatMap((line) => {
    if (/^(Netid|State)\s/.test(line)) return [];
    const f = line.trim().split(/\s+/);
    const withNetid = /^(tcp|udp|raw|u_str|u_dgr|u_seq|p_raw|p_dgr|nl|mptcp|sctp)$/.test(f[0] ?? '');
    const [netid, state, recvQ, sendQ, local, peer] = withNetid ? f : ['tcp', ...f];
    if (!state || !local || !peer || !/^\d+$/.test(recvQ ?? '') || !/^\d+$/.test(sendQ ?? '')) return [];
    const rest = f.slice(withNetid ? 6 : 5).join(' ');
    return [{ netid, state, local, peer, processes: ssProcesses(rest) }];
  });
}

/** `lsmod`: one record per module. */
export function parseLsmod(stdout: string): Record<string, unknown>[] {
  return lines(stdout).flatMap((line) => {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s*(\S*)$/.exec(line.trim());
    return m && m[1] !== 'Module' ? [{ module: m[1], size: Number(m[2]), usedBy: Number(m[3]), dependents: m[4] ? m[4].split(',').filter(Boolean) : [] }] : [];
  });
}

/** `ls -l /proc/<pid>/exe | grep '(deleted)'`: one record per process running a deleted binary. */
export function parseDeletedBinaries(stdout: string): Record<string, unknown>[] {
  return lines(stdout).flatMap((line) => {
    const m = /\/proc\/(\d+)\/exe -> (.*) \(deleted\)$/.exec(line);
    return m ? [{ pid: Number(m[1]), binary: m[2] }] : [];
  });
}

/** `find -printf '%T@ %s %m %u %p\n'`: one record per file. */
export function parseModifiedFiles(stdout: string): Record<string, unknown>[] {
  return lines(stdout).flatMap((line) => {
    const m = /^(\d+)(?:\.\d+)? (\d+) ([0-7]{1,4}) (\S+) (\/.*)$/.exec(line);
    if (!m) return [];
    return [{ modified: new Date(Number(m[1]) * 1000).toISOString(), size: Number(m[2]), mode: m[3], user: m[4], path: m[5] }];
  });
}

/** Output made of `===== <path>` sections: one record per section. */
export function parseSections(stdout: string): Record<string, unknown>[] {
  return lines(stdout).flatMap((line) => {
    const m = /^===== (.+)$/.exec(line);
    return m ? [{ section: m[1] }] : [];
  });
}

// ---------------------------------------------------------------------------------------------
// The catalogue.
// ---------------------------------------------------------------------------------------------

type FixedId = Exclude<VolatileItemId, 'web-recent-files'>;

/** The fixed items (their commands are branches of the document), in collection order (most volatile first). */
export const FIXED_VOLATILE_ITEMS: Readonly<Record<FixedId, Omit<VolatileItem, 'id' | 'parameters'>>> = {
  processes: {
    description: 'running processes with parent, user, start time and full command line',
    parser: parseProcesses,
    alwaysPrints: true,
  },
  'network-connections': {
    description: 'TCP connections in every state with their owning processes',
    parser: parseSockets,
    alwaysPrints: true,
  },
  'listening-sockets': {
    description: 'listening TCP and UDP sockets with their owning processes',
    parser: parseSockets,
    alwaysPrints: true,
  },
  'logged-in-users': {
    description: 'who is logged in, boot time and run level (who -a)',
    alwaysPrints: true,
  },
  'last-logins': {
    description: 'the last 50 logins with full times (last -Fw)',
  },
  'shell-histories': {
    description: 'the last 2000 lines of root and /home/* shell histories (symlinked histories are reported, not followed)',
    parser: parseSections,
  },
  'recent-logs': {
    description: 'the last 500 lines of auth.log, secure, syslog and messages, and the last 1000 journal entries',
    parser: parseSections,
  },
  crontabs: {
    description: 'system and user crontabs (/etc/crontab, /etc/cron.*, /var/spool/cron) and systemd timers',
    parser: parseSections,
  },
  'authorized-keys': {
    description: 'SSH authorized_keys of root and /home/* users',
    parser: parseSections,
  },
  'kernel-modules': {
    description: 'loaded kernel modules (lsmod)',
    parser: parseLsmod,
    alwaysPrints: true,
  },
  'deleted-binaries': {
    description: 'processes whose executable has been deleted from disk',
    parser: parseDeletedBinaries,
  },
};

/**
 * The recently-modified-files item's parameters for validated roots and minutes: the roots
 * (without trailing slashes and duplicates) separated by single spaces, the minutes as digits. On
 * the instance, for each root, GNU find on that file system only, newest first, at most
 * WEB_FILES_MAX_LINES lines per root; a root that is not a directory is reported on stderr and is
 * not a failure.
 */
export function webRecentFilesParameters(webRoots: readonly string[], modifiedWithinMinutes: number): Record<string, string> {
  const roots = validateWebRoots(webRoots);
  const minutes = validateModifiedWithinMinutes(modifiedWithinMinutes);
  return { item: 'web-recent-files', webRoots: roots.join(' '), modifiedWithinMinutes: String(minutes) };
}

/** The catalogue entry for one item (validating the web roots and minutes for `web-recent-files`). */
export function volatileItem(id: VolatileItemId, params: VolatileParams): VolatileItem {
  if (id === 'web-recent-files') {
    return {
      id,
      description: `regular files under ${validateWebRoots(params.webRoots).join(', ')} modified in the last ${validateModifiedWithinMinutes(params.modifiedWithinMinutes)} minutes (mtime, size, mode, owner, path)`,
      parameters: webRecentFilesParameters(params.webRoots, params.modifiedWithinMinutes),
      parser: parseModifiedFiles,
    };
  }
  const fixed = FIXED_VOLATILE_ITEMS[id];
  if (!fixed) throw new ValidationError(`unknown volatile item ${JSON.stringify(id)}`, { code: 'UnknownVolatileItem' });
  return { id, ...fixed, parameters: { item: id } };
}

/** The items to collect, in catalogue order, deduplicated; all of them when `ids` is absent. */
export function volatileItems(params: VolatileParams, ids?: readonly VolatileItemId[]): VolatileItem[] {
  const wanted = ids ? new Set(ids) : undefined;
  return VOLATILE_ITEM_IDS.filter((id) => !wanted || wanted.has(id)).map((id) => volatileItem(id, params));
}
