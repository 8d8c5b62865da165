/** The fake API server: HTTP for REST, websocket upgrades for pod exec. */
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { KubeConfig } from '@kubernetes/client-node';
import { WebSocketServer } from 'ws';
import { DEFAULT_EXEC_PROTOCOLS, prepareExec, serveExec, type ExecSession } from './exec.js';
import type { CustomResourceDefinition } from './customResources.js';
import { addPodDisruptionBudget, withStatus } from './disruption.js';
import { addNode } from './nodes.js';
import { FakePod, addPod } from './pods.js';
import { handleRest } from './rest.js';
import { KubeError, unauthorized } from './status.js';
import { Store, key } from './store.js';
import type {
  AddNodeOptions,
  AddPodDisruptionBudgetOptions,
  AddPodOptions,
  CallRecord,
  ExecHook,
  ExecRecord,
  FailureInjection,
  FakeKubeOptions,
  KubeObject,
} from './types.js';

export const DEFAULT_TOKEN = 'fake-kube-token';
const MAX_BODY = 16 * 1024 * 1024;

export interface KubeConfigOptions {
  /** Bearer token to send; default the server's token. */
  token?: string;
  /** Namespace of the context. */
  namespace?: string;
}

export interface FakeKube {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The bearer token the server requires, or undefined when the check is off. */
  readonly token: string | undefined;
  /** Every exec accepted by the server, in order. */
  readonly execs: ExecRecord[];
  /** Every HTTP request (REST and exec upgrades), in order, with the status answered. */
  readonly calls: CallRecord[];
  /** A KubeConfig for the real client: cluster `fake`, user `fake`, context `fake`. */
  kubeConfig(opts?: KubeConfigOptions): KubeConfig;
  addPod(opts: AddPodOptions): FakePod;
  /** The pod's handle; throws when it does not exist. */
  pod(namespace: string, name: string): FakePod;
  hasPod(namespace: string, name: string): boolean;
  removePod(namespace: string, name: string): void;
  addNode(opts?: AddNodeOptions): KubeObject;
  /** A copy of the node object, or undefined. */
  node(name: string): KubeObject | undefined;
  nodes(): KubeObject[];
  /** A copy of the NetworkPolicy, or undefined. */
  networkPolicy(namespace: string, name: string): KubeObject | undefined;
  networkPolicies(namespace?: string): KubeObject[];
  /** Adds a policy/v1 PodDisruptionBudget (selector by matchLabels); returns it with its status. */
  addPodDisruptionBudget(opts: AddPodDisruptionBudgetOptions): KubeObject;
  /** The PDB with its status as now computed, or undefined. */
  podDisruptionBudget(namespace: string, name: string): KubeObject | undefined;
  /** Ephemeral containers with this image fail to start: status waiting, reason ErrImagePull, with this message. */
  failImagePull(image: string, message?: string): void;
  /**
   * Serves a custom resource (a CRD, or an aggregated API such as Calico's) from now on: create,
   * get, list, delete. Before this, its paths answer 404 as a cluster without it does.
   */
  installCustomResource(def: CustomResourceDefinition): void;
  /** Removes the definition and every object of it, as deleting a CRD does. */
  uninstallCustomResource(group: string, plural: string): void;
  /** A copy of one custom object, or undefined. */
  customObject(group: string, plural: string, name: string, namespace?: string): KubeObject | undefined;
  customObjects(group: string, plural: string): KubeObject[];
  /** Replace (or with undefined, stop replacing) how execs run; return undefined from the hook to run the real program. */
  onExec(hook: ExecHook | undefined): void;
  /** Make matching requests fail with a Status body. */
  injectFailure(failure: FailureInjection): void;
  /** Forget recorded execs and calls. */
  clearRecords(): void;
  /** Resolves when no exec is running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

function lastValues(query: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of query) out[k] = v;
  return out;
}

function parseUrl(raw: string | undefined): { pathname: string; query: URLSearchParams; segments: string[] } {
  const url = new URL(raw ?? '/', 'http://fake.invalid');
  const segments = url.pathname
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { pathname: url.pathname, query: url.searchParams, segments };
}

function statusText(code: number): string {
  const texts: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };
  return texts[code] ?? 'Error';
}

function rejectUpgrade(socket: Duplex, err: KubeError): void {
  const body = JSON.stringify(err.body);
  socket.end(
    `HTTP/1.1 ${err.code} ${statusText(err.code)}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // Directories a test chmod'ed to 000 cannot be traversed by a non-root user: open them up first.
    const open = (d: string): void => {
      try {
        chmodSync(d, 0o700);
        for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) open(path.join(d, e.name));
      } catch {
        // best effort
      }
    };
    open(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

interface ActiveFailure extends FailureInjection {
  remaining: number;
}

export async function startFakeKube(options: FakeKubeOptions = {}): Promise<FakeKube> {
  const now = options.now ?? (() => new Date());
  const token = options.token === false ? undefined : (options.token ?? DEFAULT_TOKEN);
  const protocols = options.execProtocols ?? DEFAULT_EXEC_PROTOCOLS;
  const baseDir = mkdtempSync(path.join(tmpdir(), 'fakekube-'));
  const store = new Store(baseDir, now);
  const execs: ExecRecord[] = [];
  const calls: CallRecord[] = [];
  const sessions = new Set<ExecSession>();
  let hook: ExecHook | undefined;
  const failures: ActiveFailure[] = [];

  const authorized = (req: IncomingMessage): boolean => token === undefined || req.headers.authorization === `Bearer ${token}`;

  const injected = (method: string, pathname: string, upgrade: boolean): KubeError | undefined => {
    const f = failures.find(
      (x) =>
        x.remaining > 0 &&
        (x.method === undefined || x.method.toUpperCase() === method) &&
        (x.path === undefined || (typeof x.path === 'string' ? x.path === pathname : x.path.test(pathname))) &&
        (!upgrade || x.upgrades !== false),
    );
    if (!f) return undefined;
    f.remaining -= 1;
    return new KubeError(f.code, f.reason ?? (f.code >= 500 ? 'InternalError' : 'BadRequest'), f.message ?? `injected failure (${f.code})`);
  };

  const record = (req: IncomingMessage, pathname: string, query: URLSearchParams, upgrade: boolean, rawBody: string): CallRecord => {
    let body: unknown;
    if (rawBody !== '') {
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = rawBody;
      }
    }
    const call: CallRecord = {
      method: req.method ?? 'GET',
      path: pathname,
      query: lastValues(query),
      url: req.url ?? '/',
      ...(req.headers['content-type'] !== undefined ? { contentType: req.headers['content-type'] } : {}),
      ...(body !== undefined ? { body } : {}),
      ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}),
      upgrade,
      statusCode: 0,
      time: now(),
    };
    calls.push(call);
    return call;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const { pathname, query, segments } = parseUrl(req.url);
      const method = (req.method ?? 'GET').toUpperCase();
      const call = record(req, pathname, query, false, rawBody);
      let status: number;
      let body: unknown;
      let contentType = 'application/json';
      try {
        store.reapTerminated();
        if (!authorized(req)) throw unauthorized();
        const failure = injected(method, pathname, false);
        if (failure) throw failure;
        if (size > MAX_BODY) throw new KubeError(413, 'RequestEntityTooLarge', 'the request body is too large');
        const response = handleRest(store, { method, segments, query, contentType: req.headers['content-type'], rawBody });
        ({ status, body } = response);
        if (response.contentType) contentType = response.contentType;
      } catch (err) {
        if (!(err instanceof KubeError)) {
          status = 500;
          body = new KubeError(500, 'InternalError', `fakeKube internal error: ${String(err)}`).body;
        } else {
          status = err.code;
          body = err.body;
        }
      }
      call.statusCode = status;
      const payload = Buffer.isBuffer(body) ? body : JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload), 'Cache-Control': 'no-cache, private' });
      res.end(payload);
    });
  });

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (offered: Set<string>) => protocols.find((p) => offered.has(p)) ?? false,
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    const { pathname, query, segments } = parseUrl(req.url);
    const method = (req.method ?? 'GET').toUpperCase();
    const call = record(req, pathname, query, true, '');
    const fail = (err: KubeError): void => {
      call.statusCode = err.code;
      rejectUpgrade(socket, err);
    };
    let execReq;
    try {
      store.reapTerminated();
      if (!authorized(req)) throw unauthorized();
      const failure = injected(method, pathname, true);
      if (failure) throw failure;
      const isExec = segments.length === 7 && segments[0] === 'api' && segments[1] === 'v1' && segments[2] === 'namespaces' && segments[4] === 'pods' && segments[6] === 'exec';
      if (!isExec) throw new KubeError(404, 'NotFound', 'the server could not find the requested resource', {});
      execReq = prepareExec(store, segments, query);
    } catch (err) {
      fail(err instanceof KubeError ? err : new KubeError(500, 'InternalError', String(err)));
      return;
    }
    const req2 = execReq;
    wss.handleUpgrade(req, socket, head, (ws) => {
      call.statusCode = 101;
      const rec: ExecRecord = {
        namespace: req2.namespace,
        pod: req2.pod,
        container: req2.container,
        argv: [...req2.argv],
        exitCode: null,
        protocol: ws.protocol,
        tty: req2.tty,
        stdin: req2.stdin,
        stdinBytes: 0,
        stdoutBytes: 0,
        stderrBytes: 0,
        startedAt: now(),
      };
      execs.push(rec);
      const session = serveExec(ws, req2, rec, hook);
      sessions.add(session);
      void session.done.finally(() => sessions.delete(session));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  let closed = false;

  const fake: FakeKube = {
    url,
    token,
    execs,
    calls,
    kubeConfig(opts: KubeConfigOptions = {}): KubeConfig {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
        users: [{ name: 'fake', token: opts.token ?? token ?? 'no-token' }],
        contexts: [{ name: 'fake', cluster: 'fake', user: 'fake', ...(opts.namespace ? { namespace: opts.namespace } : {}) }],
        currentContext: 'fake',
      });
      return kc;
    },
    addPod: (opts) => addPod(store, opts),
    pod(namespace, name) {
      store.reapTerminated();
      const entry = store.pods.get(key(namespace, name));
      if (!entry) throw new Error(`fakeKube: no pod ${namespace}/${name}`);
      return entry.handle;
    },
    hasPod: (namespace, name) => {
      store.reapTerminated();
      return store.pods.has(key(namespace, name));
    },
    removePod(namespace, name) {
      store.pods.delete(key(namespace, name));
    },
    addNode: (opts) => addNode(store, opts),
    node: (name) => {
      const n = store.nodes.get(name);
      return n ? structuredClone(n) : undefined;
    },
    nodes: () => [...store.nodes.values()].map((n) => structuredClone(n)),
    networkPolicy: (namespace, name) => {
      const np = store.networkPolicies.get(key(namespace, name));
      return np ? structuredClone(np) : undefined;
    },
    networkPolicies: (namespace) =>
      [...store.networkPolicies.values()].filter((np) => namespace === undefined || np.metadata.namespace === namespace).map((np) => structuredClone(np)),
    addPodDisruptionBudget: (opts) => addPodDisruptionBudget(store, opts),
    podDisruptionBudget: (namespace, name) => {
      const pdb = store.podDisruptionBudgets.get(key(namespace, name));
      return pdb ? withStatus(store, pdb) : undefined;
    },
    failImagePull(image, message) {
      store.unpullableImages.set(image, message ?? `failed to pull and unpack image "${image}": not found`);
    },
    installCustomResource: (def) => store.customResources.install(def),
    uninstallCustomResource: (group, plural) => store.customResources.uninstall(group, plural),
    customObject: (group, plural, name, namespace) => store.customResources.get(group, plural, name, namespace),
    customObjects: (group, plural) => store.customResources.list(group, plural),
    onExec(h) {
      hook = h;
    },
    injectFailure(failure) {
      failures.push({ ...failure, remaining: failure.times ?? 1 });
    },
    clearRecords() {
      execs.length = 0;
      calls.length = 0;
    },
    async idle() {
      while (sessions.size > 0) await Promise.all([...sessions].map((s) => s.done));
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const s of sessions) s.kill();
      for (const ws of wss.clients) ws.terminate();
      await Promise.race([fake.idle(), new Promise((r) => setTimeout(r, 2000))]);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      removeTree(baseDir);
    },
  };
  return fake;
}
