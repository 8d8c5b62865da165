/**
 * Pod exec over the Kubernetes websocket channel protocol (v5.channel.k8s.io / v4.channel.k8s.io),
 * as client-node 2.x's `Exec` speaks it: every binary frame starts with a channel byte —
 * 0 stdin, 1 stdout, 2 stderr, 3 status (JSON), 4 resize, and (v5 only) 255 "close channel",
 * which the client sends as `[255, 0]` when its stdin ends.
 *
 * The server sends all of stdout/stderr (with backpressure), then the status frame, then closes.
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WebSocket, type RawData } from 'ws';
import { notFoundMessage, runInPod } from './runner.js';
import { NOT_FOUND_EXIT_CODE } from './sandbox.js';
import { badRequest, notFound } from './status.js';
import { Store, key, type PodEntry } from './store.js';
import type { ExecHook, ExecRecord } from './types.js';

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const STATUS = 3;
export const RESIZE = 4;
export const CLOSE = 255;

export const DEFAULT_EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

/** Stop reading program output while this much is queued on the socket. */
const HIGH_WATER = 1 << 20;

export interface ExecRequest {
  entry: PodEntry;
  namespace: string;
  pod: string;
  container: string;
  argv: string[];
  stdin: boolean;
  tty: boolean;
  /** Host directory acting as the container's `/` (the pod's, or an ephemeral container's own). */
  root: string;
}

function flag(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  return v === 'true' || v === '1';
}

/** Validate an exec upgrade request as the API server does before upgrading. */
export function prepareExec(store: Store, segments: string[], query: URLSearchParams): ExecRequest {
  // api v1 namespaces {ns} pods {name} exec
  const namespace = segments[3]!;
  const pod = segments[5]!;
  const entry = store.pods.get(key(namespace, pod));
  if (!entry) throw notFound({ resource: 'pods' }, pod);
  const argv = query.getAll('command');
  if (argv.length === 0) throw badRequest('you must specify at least 1 command');
  let container = query.get('container') ?? '';
  if (container === '') {
    if (entry.containers.length !== 1) {
      throw badRequest(`a container name must be specified for pod ${pod}, choose one of: [${entry.containers.join(' ')}]`);
    }
    container = entry.containers[0]!;
  }
  const ephemeralRoot = entry.ephemeralRoots.get(container);
  if (!entry.containers.includes(container) && ephemeralRoot === undefined) throw badRequest(`container ${container} is not valid for pod ${pod}`);
  if (ephemeralRoot !== undefined) {
    // An ephemeral container runs its own image: exec works only while it is running.
    const statuses = (entry.object.status?.['ephemeralContainerStatuses'] ?? []) as { name?: string; state?: Record<string, unknown> }[];
    const state = statuses.find((s) => s.name === container)?.state ?? {};
    if (!('running' in state)) throw badRequest(`container ${container} is not running (${Object.keys(state)[0] ?? 'unknown'})`);
  }
  if (!entry.object.spec?.['nodeName']) throw badRequest(`pod ${pod} does not have a host assigned`);
  const phase = entry.object.status?.['phase'];
  if (phase === 'Succeeded' || phase === 'Failed') {
    throw badRequest(`cannot exec into a container in a completed pod; current phase is ${String(phase)}`);
  }
  if (!flag(query, 'stdout') && !flag(query, 'stderr') && !flag(query, 'stdin')) {
    throw badRequest('you must specify at least one of stdin, stdout, stderr');
  }
  return { entry, namespace, pod, container, argv, stdin: flag(query, 'stdin'), tty: flag(query, 'tty'), root: ephemeralRoot ?? entry.root };
}

/** The status frame payload the client hands to its statusCallback. */
export function execStatus(argv: readonly string[], exitCode: number): Record<string, unknown> {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  const reason =
    exitCode === NOT_FOUND_EXIT_CODE && !argv[0]?.includes('/') && argv[0] !== undefined
      ? notFoundMessage(argv[0])
      : `error executing command [${argv.join(' ')}], exit code ${exitCode}`;
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: ${reason}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

/** Sends one stream as channel frames, applying backpressure from the socket. */
class ChannelWriter extends Writable {
  constructor(
    private readonly ws: WebSocket,
    private readonly channel: number,
    private readonly count: (n: number) => void,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) {
      callback(); // the client is gone: drain and drop so the program is not blocked
      return;
    }
    this.count(chunk.length);
    const frame = Buffer.allocUnsafe(chunk.length + 1);
    frame[0] = this.channel;
    chunk.copy(frame, 1);
    if (this.ws.bufferedAmount + frame.length < HIGH_WATER) {
      this.ws.send(frame, { binary: true });
      callback();
    } else {
      this.ws.send(frame, { binary: true }, () => callback());
    }
  }
}

export interface ExecSession {
  /** Resolves once the status has been sent (or the client went away). */
  done: Promise<void>;
  kill(): void;
}

export function serveExec(ws: WebSocket, req: ExecRequest, record: ExecRecord, hook: ExecHook | undefined): ExecSession {
  const run = runInPod(
    { namespace: req.namespace, pod: req.pod, container: req.container, argv: req.argv, root: req.root },
    { stdin: req.stdin, hook },
  );
  const stdin = run.stdin;
  stdin?.on('error', () => {});

  ws.on('message', (data: RawData) => {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (buf.length === 0) return;
    const channel = buf[0];
    if (channel === STDIN) {
      record.stdinBytes += buf.length - 1;
      if (!stdin || stdin.writableEnded || stdin.destroyed) return;
      if (!stdin.write(buf.subarray(1))) {
        ws.pause();
        stdin.once('drain', () => ws.resume());
        stdin.once('close', () => ws.resume());
      }
    } else if (channel === CLOSE && buf[1] === STDIN) {
      if (stdin && !stdin.writableEnded) stdin.end();
    }
    // RESIZE and anything else: ignored (no TTY support).
  });

  ws.on('close', () => {
    run.kill();
    if (stdin && !stdin.writableEnded) stdin.end();
  });
  ws.on('error', () => {});

  const sinkOut = new ChannelWriter(ws, STDOUT, (n) => (record.stdoutBytes += n));
  const sinkErr = new ChannelWriter(ws, req.tty ? STDOUT : STDERR, (n) => (record.stderrBytes += n));
  const out = pipeline(run.stdout, sinkOut).catch(() => {});
  const err = pipeline(run.stderr, sinkErr).catch(() => {});

  const done = (async () => {
    const exitCode = await run.exit;
    await Promise.all([out, err]);
    record.exitCode = exitCode;
    const refused = run.refused();
    if (refused !== undefined) record.refused = refused;
    record.finishedAt = new Date();
    if (ws.readyState !== WebSocket.OPEN) return;
    const status = Buffer.from(JSON.stringify(execStatus(req.argv, exitCode)));
    const frame = Buffer.concat([Buffer.from([STATUS]), status]);
    await new Promise<void>((resolve) => ws.send(frame, { binary: true }, () => resolve()));
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
  })();

  return { done, kill: () => run.kill() };
}


