/**
 * Starts ElasticMQ (the jars from ensureElasticMq) on 127.0.0.1 at a free port:
 * `java -Dconfig.file=<generated> -cp '<deps>/*' org.elasticmq.server.Main`, an argv array (java
 * expands the classpath wildcard itself; no shell). The generated config binds the SQS REST API to
 * loopback only, gives queue URLs that host and port, SQS's strict limits (batch of 10, 256 KiB),
 * and no statistics UI. Waits until it answers ListQueues; stop() sends SIGTERM, then SIGKILL. The
 * JVM is also killed when this process exits (a benchmark interrupted with Ctrl-C: see
 * bench/storm.bench.ts, which turns SIGINT and SIGTERM into an exit).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface ElasticMqServer {
  /** e.g. http://127.0.0.1:41234 */
  endpoint: string;
  pid: number;
  /** The last part of its output. */
  output(): string;
  stop(): Promise<void>;
}

export interface StartElasticMqOptions {
  /** The jar directory (ensureElasticMq). */
  deps: string;
  region: string;
  /** The account id in queue URLs and ARNs. */
  accountId?: string;
  /** JVM options; default a 512 MB heap. */
  jvmOptions?: string[];
  startTimeoutMs?: number;
}

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

/** ElasticMQ's HOCON configuration for one loopback server. */
export function elasticMqConfig(port: number, region: string, accountId: string): string {
  return [
    'include classpath("application.conf")',
    `node-address { protocol = http, host = "127.0.0.1", port = ${port}, context-path = "" }`,
    `rest-sqs { enabled = true, bind-port = ${port}, bind-hostname = "127.0.0.1", sqs-limits = strict }`,
    'rest-stats { enabled = false }',
    `aws { region = ${region}, accountId = ${accountId} }`,
    '',
  ].join('\n');
}

export async function startElasticMq(options: StartElasticMqOptions): Promise<ElasticMqServer> {
  const port = await freeLoopbackPort();
  const endpoint = `http://127.0.0.1:${port}`;
  const dir = await mkdtemp(path.join(tmpdir(), 'sentinel-elasticmq-'));
  const configFile = path.join(dir, 'elasticmq.conf');
  await writeFile(configFile, elasticMqConfig(port, options.region, options.accountId ?? '000000000000'));
  const child = spawn('java', [...(options.jvmOptions ?? ['-Xmx512m']), `-Dconfig.file=${configFile}`, '-cp', `${options.deps}/*`, 'org.elasticmq.server.Main'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-64 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  // The JVM does not notice its parent going away: it goes when this process exits, however that happens short of SIGKILL.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    if (spawnError) {
      await stop();
      throw new Error(`cannot run java (Java 17 or later is needed for ElasticMQ): ${spawnError.message}`);
    }
    if (exited) {
      await stop();
      throw new Error(`ElasticMQ exited before answering:\n${output.trim().split('\n').slice(-30).join('\n')}`);
    }
    try {
      const res = await fetch(`${endpoint}/?Action=ListQueues`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`ElasticMQ did not answer on ${endpoint} in time:\n${output.trim().split('\n').slice(-30).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { endpoint, pid: child.pid!, output: () => output, stop };
}
