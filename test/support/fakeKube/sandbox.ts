/**
 * Confines allowlisted programs to a pod's root directory.
 *
 * The fake never uses a shell: argv is run as given (so `'; rm -rf / #'`, `$(id)` or a name
 * with a newline are plain file names). Absolute arguments are translated into the pod
 * root (`/var/x` → `<root>/var/x`), relative ones are relative to the pod root (the cwd),
 * and every operand is resolved the way the host kernel would (`..` and symlinks, with a
 * non-existent tail resolved lexically). Anything that would land outside the root is
 * refused. Options that make a program follow symlinks while recursing, run other
 * programs, or read file names from a file are refused too.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export const ALLOWED_COMMANDS = ['cat', 'sha256sum', 'mv', 'mkdir', 'ls', 'stat', 'chmod', 'test', 'cp', 'rm', 'head', 'wc', 'find', 'realpath', 'id'] as const;
export type AllowedCommand = (typeof ALLOWED_COMMANDS)[number];

/** Exit code of a command the sandbox refused to run (path escape, forbidden option). */
export const REFUSED_EXIT_CODE = 126;
/** Exit code for a program outside the allowlist, as a shell or container runtime reports it. */
export const NOT_FOUND_EXIT_CODE = 127;

/** Host binaries; looked up once per program. */
const HOST_BIN_DIRS = ['/usr/bin', '/bin', '/usr/local/bin'];
/** Directories an in-container absolute program path may name (`/bin/cat`). */
const CONTAINER_BIN_DIRS = new Set(['/bin', '/usr/bin', '/usr/local/bin', '/sbin', '/usr/sbin']);

export class SandboxRefusal extends Error {}

export function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root + '/');
}

/**
 * Resolve an absolute host path as the kernel would: `..` after symlinks apply to the
 * symlink target. Once a component does not exist, the rest is resolved lexically.
 */
export function resolveOnHost(absPath: string, depth = 0): string {
  if (depth > 40) throw new SandboxRefusal('Too many levels of symbolic links');
  const parts = absPath.split('/');
  let cur = '/';
  for (let i = 0; i < parts.length; i++) {
    const c = parts[i]!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      cur = path.posix.dirname(cur);
      continue;
    }
    const next = cur === '/' ? `/${c}` : `${cur}/${c}`;
    let isLink: boolean;
    try {
      isLink = lstatSync(next).isSymbolicLink();
    } catch {
      return path.posix.resolve(next, parts.slice(i + 1).join('/') || '.');
    }
    if (isLink) {
      const target = readlinkSync(next);
      cur = resolveOnHost(target.startsWith('/') ? target : `${cur}/${target}`, depth + 1);
    } else {
      cur = next;
    }
  }
  return cur;
}

/** The host path an in-pod path names (no resolution): `/a/b` → `<root>/a/b`, `a` → `<root>/a`. */
export function toHostPath(root: string, podPath: string): string {
  return podPath.startsWith('/') ? root + podPath : `${root}/${podPath}`;
}

/** Host path for an in-pod path, refusing anything that resolves outside the root. */
export function confinedHostPath(root: string, podPath: string): string {
  if (podPath.includes('\0')) throw new SandboxRefusal('argument contains a NUL byte');
  const host = toHostPath(root, podPath);
  if (!isInside(root, resolveOnHost(host))) throw new SandboxRefusal('path escapes the pod root');
  return host;
}

/** Programs whose recursion would follow symlinks with these short/long options. */
const DEREF_SHORT: Partial<Record<AllowedCommand, string>> = { ls: 'L', cp: 'L', chmod: 'L' };
const FIND_FORBIDDEN = new Set(['-exec', '-execdir', '-ok', '-okdir', '-L', '-follow', '-files0-from']);

function checkOption(cmd: AllowedCommand, arg: string): void {
  if (arg.startsWith('--files0-from')) throw new SandboxRefusal(`option ${arg} is not supported by the fake`);
  if (cmd === 'find') {
    if (FIND_FORBIDDEN.has(arg)) throw new SandboxRefusal(`find ${arg} is not supported by the fake`);
    return;
  }
  const isLong = arg.startsWith('--');
  if (isLong) {
    const name = arg.split('=')[0]!;
    if ((cmd === 'ls' || cmd === 'cp' || cmd === 'chmod') && name === '--dereference') {
      throw new SandboxRefusal(`${name} is not supported by the fake`);
    }
    if (cmd === 'sha256sum' && name === '--check') throw new SandboxRefusal('sha256sum --check is not supported by the fake');
    return;
  }
  const letters = arg.slice(1);
  const deref = DEREF_SHORT[cmd];
  if (deref && letters.includes(deref)) throw new SandboxRefusal(`option -${deref} is not supported by the fake`);
  if (cmd === 'sha256sum' && letters.includes('c')) throw new SandboxRefusal('sha256sum --check is not supported by the fake');
  if (letters.includes('/')) throw new SandboxRefusal(`option ${arg} carries a path; pass it as a separate argument`);
}

/** Resolve argv[0] to an allowlisted program, or undefined when the container has no such executable. */
export function resolveProgram(argv0: string): AllowedCommand | undefined {
  let name = argv0;
  if (argv0.includes('/')) {
    const dir = path.posix.dirname(argv0);
    if (!CONTAINER_BIN_DIRS.has(dir)) return undefined;
    name = path.posix.basename(argv0);
  }
  return (ALLOWED_COMMANDS as readonly string[]).includes(name) ? (name as AllowedCommand) : undefined;
}

let hostBinaries: Map<string, string> | undefined;
export function hostBinary(cmd: AllowedCommand): string {
  hostBinaries ??= new Map();
  let found = hostBinaries.get(cmd);
  if (!found) {
    for (const dir of HOST_BIN_DIRS) {
      try {
        if (lstatSync(`${dir}/${cmd}`).isFile() || lstatSync(`${dir}/${cmd}`).isSymbolicLink()) {
          found = `${dir}/${cmd}`;
          break;
        }
      } catch {
        // try the next directory
      }
    }
    if (!found) throw new Error(`fakeKube: host has no ${cmd} binary in ${HOST_BIN_DIRS.join(', ')}`);
    hostBinaries.set(cmd, found);
  }
  return found;
}

/**
 * Translate the arguments (argv without argv[0]) of an allowlisted program into host
 * arguments confined to `root`. Throws SandboxRefusal with a message naming the in-pod argument.
 */
export function translateArgs(cmd: AllowedCommand, args: readonly string[], root: string): string[] {
  // `id` runs as the host user the fake execs as; a user name operand would be looked up on the host.
  if (cmd === 'id') {
    const operand = args.find((a) => a === '--' || !a.startsWith('-') || a === '-');
    if (operand !== undefined) throw new SandboxRefusal(`id ${operand}: naming a user is not supported by the fake`);
  }
  const out: string[] = [];
  let endOfOptions = false;
  for (const arg of args) {
    if (arg.includes('\0')) throw new SandboxRefusal('argument contains a NUL byte');
    if (!endOfOptions && arg === '--') {
      endOfOptions = true;
      out.push(arg);
      continue;
    }
    if (!endOfOptions && arg.length > 1 && arg.startsWith('-')) {
      checkOption(cmd, arg);
      const eq = arg.indexOf('=');
      if (arg.startsWith('--') && eq > 0) {
        const value = arg.slice(eq + 1);
        if (value.startsWith('/')) {
          out.push(`${arg.slice(0, eq + 1)}${confined(root, value)}`);
          continue;
        }
        if (value.includes('..')) confined(root, value);
      }
      out.push(arg);
      continue;
    }
    if (arg === '-' && !endOfOptions) {
      out.push(arg);
      continue;
    }
    const host = confined(root, arg);
    if ((cmd === 'rm' || cmd === 'mv') && resolveOnHost(host) === root) {
      throw new SandboxRefusal(`${arg}: refusing to ${cmd} the pod root`);
    }
    // Keep relative operands relative (cwd is the root) so messages name them as given.
    out.push(arg.startsWith('/') ? host : arg);
  }
  return out;
}

function confined(root: string, arg: string): string {
  try {
    return confinedHostPath(root, arg);
  } catch (err) {
    if (err instanceof SandboxRefusal) throw new SandboxRefusal(`${arg}: ${err.message}`);
    throw err;
  }
}
