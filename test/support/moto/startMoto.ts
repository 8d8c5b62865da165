/**
 * Starts moto_server (from the venv made by ensureMotoVenv) on a free loopback port.
 *
 * - binds 127.0.0.1 only;
 * - waits until it answers, then turns on Step Functions execution simulation
 *   (`POST /moto-api/config`), before any state machine can be created;
 * - stop() signals the whole process group (SIGTERM, then SIGKILL) and waits for the exit;
 * - a watchdog thread in the Python process exits it when our end of its stdin pipe closes,
 *   so moto dies with the test runner even when teardown never runs (crash, SIGKILL).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';

export interface MotoServer {
  /** e.g. http://127.0.0.1:41234 */
  endpoint: string;
  pid: number;
  /** The last part of moto's stdout/stderr (for diagnostics). */
  output(): string;
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  /** The venv's Python interpreter (moto is run as `python -c <bootstrap>`). */
  python: string;
  /** How long to wait for moto to answer; default 60 s. */
  startTimeoutMs?: number;
}

/** Step Functions must execute state machines (Task states, callbacks, timeouts), not just store them. */
export const MOTO_CONFIG = { stepfunctions: { execute_state_machine: true } } as const;

const OUTPUT_CAP = 64 * 1024;

/**
 * moto gives every SQS message the same SenderId, whoever sent it; AWS gives the sender's
 * principal id (`<role id>:<session>` for a role). The bootstrap below makes moto's SenderId
 * follow the caller's access key: moto's own Step Functions interpreter calls SQS with the access
 * key `ak`, so its messages carry the sender id of a state-machine role, as on AWS; any other
 * key keeps moto's default sender id. Tests configure the bot with MOTO_STATE_MACHINE_ROLE_ID.
 */
export const MOTO_STATE_MACHINE_ACCESS_KEY = 'ak';
export const MOTO_STATE_MACHINE_ROLE_ID = 'AROAMOTOSTATEMACHINES1';
export const MOTO_STATE_MACHINE_SENDER_ID = `${MOTO_STATE_MACHINE_ROLE_ID}:moto-execution`;
/** What moto calls every other sender. */
export const MOTO_DEFAULT_SENDER_ID = 'AIDAIT2UOQQY3AUEKVGXU';

// Runs moto's own server entry point, plus a daemon thread that exits the process once stdin
// reaches EOF (our pipe closes when the Node process that started us goes away). os.read on fd 0
// (not sys.stdin) so the thread never holds the buffered reader's lock at interpreter shutdown.
const BOOTSTRAP = [
  'import os, sys, threading',
  // Two emulator gaps closed the way AWS behaves (see test/support/moto/GAPS.md):
  // 1. SQS SenderId follows the caller's access key (SENTINEL_MOTO_SENDER_IDS maps keys to ids).
  // 2. SendTaskHeartbeat on a waiting callback task without HeartbeatSeconds succeeds (AWS
  //    accepts and discards it; moto answered InvalidToken).
  'def _sentinel_patches():',
  '    import contextvars, json, re',
  '    from moto.sqs import models as sqs_models, responses as sqs_responses',
  '    senders = json.loads(os.environ.get("SENTINEL_MOTO_SENDER_IDS", "{}"))',
  '    current = contextvars.ContextVar("sentinel_sender", default=None)',
  '    call_action = sqs_responses.SQSResponse.call_action',
  '    credential = re.compile(r"Credential=([^/,\\s]+)/")',
  '    def patched_call_action(self):',
  '        found = credential.search(self.headers.get("Authorization", "") or "")',
  '        token = current.set(senders.get(found.group(1)) if found else None)',
  '        try:',
  '            return call_action(self)',
  '        finally:',
  '            current.reset(token)',
  '    sqs_responses.SQSResponse.call_action = patched_call_action',
  '    message_init = sqs_models.Message.__init__',
  '    def patched_message_init(self, *args, **kwargs):',
  '        message_init(self, *args, **kwargs)',
  '        sender = current.get()',
  '        if sender:',
  '            self.sender_id = sender',
  '    sqs_models.Message.__init__ = patched_message_init',
  '    from moto.stepfunctions.parser.asl.eval.callback import callback',
  '    notify_heartbeat = callback.CallbackEndpoint.notify_heartbeat',
  '    callback.CallbackEndpoint.notify_heartbeat = lambda self: notify_heartbeat(self) or True',
  '_sentinel_patches()',
  'def _watch():',
  '    try:',
  '        while os.read(0, 4096):',
  '            pass',
  '    finally:',
  '        os._exit(0)',
  'threading.Thread(target=_watch, name="parent-watchdog", daemon=True).start()',
  'try:',
  '    from moto.server import main',
  '    main(sys.argv[1:])',
  '    code = 0',
  'except SystemExit as e:',
  '    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)',
  'except BaseException:',
  '    import traceback',
  '    traceback.print_exc()',
  '    code = 1',
  'sys.stdout.flush()',
  'sys.stderr.flush()',
  'os._exit(code)',
].join('\n');

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class MotoStartError extends Error {
  override name = 'MotoStartError';
  constructor(
    message: string,
    readonly portInUse = false,
  ) {
    super(message);
  }
}

async function startOnce(python: string, port: number, startTimeoutMs: number): Promise<MotoServer> {
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcessWithoutNullStreams = spawn(
    python,
    ['-c', BOOTSTRAP, '--host', '127.0.0.1', '--port', String(port)],
    {
      detached: true, // its own process group, so stop() can signal the group
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        // moto's Step Functions interpreter calls SQS & co. on http://localhost:$MOTO_PORT
        MOTO_PORT: String(port),
        SENTINEL_MOTO_SENDER_IDS: JSON.stringify({ [MOTO_STATE_MACHINE_ACCESS_KEY]: MOTO_STATE_MACHINE_SENDER_ID }),
        PYTHONUNBUFFERED: '1',
        NO_PROXY: ['localhost', '127.0.0.1', process.env.NO_PROXY].filter(Boolean).join(','),
        no_proxy: ['localhost', '127.0.0.1', process.env.no_proxy].filter(Boolean).join(','),
      },
    },
  );

  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_CAP);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.stdin.on('error', () => {}); // EPIPE once moto has exited

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      if (child.pid === undefined) {
        exitInfo = { code: null, signal: null };
        resolve();
      }
    });
  });

  const signalGroup = (signal: NodeJS.Signals) => {
    if (exitInfo || child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      try {
        child.kill(signal);
      } catch {
        /* already gone */
      }
    }
  };
  // Last resort if teardown never runs but Node exits normally.
  const onExit = () => signalGroup('SIGKILL');
  process.once('exit', onExit);

  const stop = async () => {
    process.removeListener('exit', onExit);
    if (!exitInfo) {
      signalGroup('SIGTERM');
      await Promise.race([exited, delay(5_000)]);
    }
    if (!exitInfo) {
      signalGroup('SIGKILL');
      await Promise.race([exited, delay(5_000)]);
    }
    child.stdin.destroy();
    child.stdout.destroy();
    child.stderr.destroy();
  };

  const fail = async (why: string): Promise<never> => {
    await stop();
    const portInUse = /address already in use|errno 98/i.test(output);
    throw new MotoStartError(
      `moto_server did not start on ${endpoint}: ${why}\n--- moto output (last lines) ---\n` +
        output.trim().split('\n').slice(-40).join('\n'),
      portInUse,
    );
  };

  // Wait until it answers (or dies).
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (spawnError && child.pid === undefined) return fail(`could not run ${python}: ${spawnError.message}`);
    if (exitInfo) return fail(`it exited (code ${exitInfo.code}, signal ${exitInfo.signal})`);
    try {
      const res = await fetch(`${endpoint}/moto-api/config`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) return fail(`no answer within ${startTimeoutMs} ms`);
    await delay(150);
  }

  try {
    const res = await fetch(`${endpoint}/moto-api/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(MOTO_CONFIG),
      signal: AbortSignal.timeout(10_000),
    });
    const body = await res.text();
    if (!res.ok) return fail(`POST /moto-api/config answered ${res.status}: ${body}`);
  } catch (err) {
    return fail(`POST /moto-api/config failed: ${(err as Error).message}`);
  }

  return { endpoint, pid: child.pid!, output: () => output, stop };
}

/** Starts moto_server on 127.0.0.1 at a free port; retries with another port if it was taken meanwhile. */
export async function startMoto(options: StartMotoOptions): Promise<MotoServer> {
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort();
    try {
      return await startOnce(options.python, port, startTimeoutMs);
    } catch (err) {
      if (err instanceof MotoStartError && err.portInUse && attempt < 3) continue;
      throw err;
    }
  }
}
