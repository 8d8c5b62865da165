/** Runs one exec inside a fake pod: an allowlisted real program, an `onExec` override, or a refusal. */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { PrefixRewriter } from './rewrite.js';
import {
  NOT_FOUND_EXIT_CODE,
  REFUSED_EXIT_CODE,
  SandboxRefusal,
  hostBinary,
  resolveProgram,
  translateArgs,
} from './sandbox.js';
import type { ExecContext, ExecHook } from './types.js';

export interface RunHandle {
  /** Output with the pod-root prefix rewritten away. */
  stdout: Readable;
  stderr: Readable;
  /** Where stdin data goes (null when the exec did not ask for stdin). */
  stdin: Writable | null;
  /** Exit code once the process has exited and closed its output. */
  exit: Promise<number>;
  /** Set once known: why the sandbox refused to run the command. */
  refused(): string | undefined;
  kill(): void;
}

/** The message a container runtime gives when argv[0] is not an executable in the image. */
export function notFoundMessage(argv0: string): string {
  return `OCI runtime exec failed: exec failed: unable to start container process: exec: "${argv0}": executable file not found in $PATH: unknown`;
}

function synthetic(stdinWanted: boolean, discardStdin = true): {
  stdout: PassThrough;
  stderr: PassThrough;
  stdin: PassThrough | null;
} {
  const stdin = stdinWanted ? new PassThrough() : null;
  if (discardStdin) stdin?.resume();
  return { stdout: new PassThrough(), stderr: new PassThrough(), stdin };
}

function finishSynthetic(
  s: { stdout: PassThrough; stderr: PassThrough },
  stdout: string | Buffer | undefined,
  stderr: string | Buffer | undefined,
): void {
  if (stdout !== undefined && stdout.length > 0) s.stdout.write(stdout);
  if (stderr !== undefined && stderr.length > 0) s.stderr.write(stderr);
  s.stdout.end();
  s.stderr.end();
}

export function runInPod(ctx: ExecContext, opts: { stdin: boolean; hook?: ExecHook | undefined }): RunHandle {
  let refusal: string | undefined;
  const argv0 = ctx.argv[0] ?? '';

  if (opts.hook) {
    const s = synthetic(opts.stdin, false);
    let timer: NodeJS.Timeout | undefined;
    let killed: (() => void) | undefined;
    const hook = opts.hook;
    const exit = (async () => {
      let override;
      try {
        override = await hook(ctx);
      } catch (err) {
        finishSynthetic(s, undefined, `fakeKube onExec hook failed: ${String(err)}\n`);
        return 1;
      }
      if (override === undefined) return undefined;
      s.stdin?.resume(); // the override does not read stdin: discard it
      if (override.delayMs) {
        await new Promise<void>((resolve) => {
          timer = setTimeout(resolve, override.delayMs);
          killed = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      finishSynthetic(s, override.stdout, override.stderr);
      return override.exitCode;
    })();
    // If the hook declines, fall through to the real program, bridging the streams.
    const bridged = exit.then(async (code) => {
      if (code !== undefined) return code;
      const real = runInPod(ctx, { stdin: opts.stdin });
      real.stdout.pipe(s.stdout);
      real.stderr.pipe(s.stderr);
      if (s.stdin && real.stdin) s.stdin.pipe(real.stdin);
      killed = () => real.kill();
      const result = await real.exit;
      refusal = real.refused();
      return result;
    });
    return {
      stdout: s.stdout,
      stderr: s.stderr,
      stdin: s.stdin,
      exit: bridged,
      refused: () => refusal,
      kill: () => killed?.(),
    };
  }

  const program = resolveProgram(argv0);
  if (program === undefined) {
    const s = synthetic(opts.stdin);
    refusal = `executable file not found: ${argv0}`;
    finishSynthetic(s, undefined, `${notFoundMessage(argv0)}\n`);
    return { ...s, exit: Promise.resolve(NOT_FOUND_EXIT_CODE), refused: () => refusal, kill: () => {} };
  }

  let hostArgs: string[];
  try {
    hostArgs = translateArgs(program, ctx.argv.slice(1), ctx.root);
  } catch (err) {
    if (!(err instanceof SandboxRefusal)) throw err;
    const s = synthetic(opts.stdin);
    refusal = err.message;
    finishSynthetic(s, undefined, `${argv0}: ${err.message} (refused by fakeKube)\n`);
    return { ...s, exit: Promise.resolve(REFUSED_EXIT_CODE), refused: () => refusal, kill: () => {} };
  }

  const child = spawn(hostBinary(program), hostArgs, {
    argv0,
    cwd: ctx.root,
    env: { PATH: '/usr/bin:/bin', LC_ALL: 'C', HOME: '/root' },
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    shell: false,
  });
  const stdout = new PrefixRewriter(ctx.root);
  const stderr = new PrefixRewriter(ctx.root);
  child.stdout!.pipe(stdout);
  child.stderr!.pipe(stderr);
  // The program may exit before reading all of stdin: ignore EPIPE on its stdin.
  child.stdin?.on('error', () => {});

  const exit = new Promise<number>((resolve) => {
    let settled = false;
    child.once('error', (err) => {
      if (settled) return;
      settled = true;
      stderr.end(`${argv0}: ${err.message}\n`);
      if (!stdout.writableEnded) stdout.end();
      resolve(REFUSED_EXIT_CODE);
    });
    child.once('close', (code, signal) => {
      if (settled) return;
      settled = true;
      if (code !== null) resolve(code);
      else resolve(128 + (signal ? (constants.signals[signal] ?? 9) : 9));
    });
  });

  return {
    stdout,
    stderr,
    stdin: child.stdin,
    exit,
    refused: () => refusal,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
