/**
 * The bot in a child process (`sentinel start`, from the sources through tsx), so a test can kill
 * it the way an outage does (SIGKILL: no shutdown, no cleanup) and see what the rest of the system
 * makes of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = fileURLToPath(new URL('./runSentinel.ts', import.meta.url));

export interface BotProcess {
  readonly pid: number;
  /** Everything the process wrote to stderr (its JSON log lines) and stdout. */
  output(): string;
  /** Waits until a line of output satisfies `match`. */
  waitForOutput(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
}

export function startBotProcess(env: Record<string, string>): BotProcess {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'start'], {
    cwd: ROOT,
    // Only the settings given (no developer .env is read: SENTINEL_* come from env, which wins).
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters = new Set<() => void>();
  const keep = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const w of waiters) w();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    output: () => output,
    waitForOutput(match, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = output.split('\n').find(match);
          if (line === undefined) return;
          cleanup();
          resolve(line);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching output within ${timeoutMs} ms; the bot wrote:\n${output.slice(-4000)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
        void exited.then(() => {
          if (waiters.has(check)) {
            cleanup();
            reject(new Error(`the bot exited; it wrote:\n${output.slice(-4000)}`));
          }
        });
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
