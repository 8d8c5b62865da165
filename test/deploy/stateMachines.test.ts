/**
 * The state machines in deploy/statemachines, checked without running them: valid ASL, every
 * transition target exists, every message a Task sends is one the bot accepts (and every action
 * input one the action accepts), every JSONPath a state reads exists in the input the bot starts
 * the execution with (buildPlaybookInput) or was written by an earlier state, and the forensics
 * playbook's own rules (failures are recorded and the playbook goes on; nothing that may destroy
 * memory runs before the capture or the waiver). test/deploy/forensicsPlaybook.test.ts runs them.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseMessage } from '../../src/handlers/messages.js';
import { loadAllActions } from '../../src/pipeline/actions/registry.js';
import { buildPlaybookInput, type ForensicsPlaybookSettings, type PlaybookSettings } from '../../src/pipeline/incident/playbookState.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import type { Route, TriageResult } from '../../src/pipeline/triage/types.js';
import { loadStateMachineDefinitions, QUEUE_URL_PLACEHOLDER } from '../../src/provision/loadStateMachines.js';
import { fluentBitLine, guardDutyEvent, kv, loadFixture } from '../helpers/events.js';

const require = createRequire(import.meta.url);
const aslValidator = require('asl-validator') as (definition: unknown) => { isValid: boolean; errorsText: (separator?: string) => string };

const QUEUE_URL = 'https://sqs.ap-northeast-2.amazonaws.com/123456789012/sentinel-test';
const MACHINE_OF_ROUTE: Record<Exclude<Route, 'ignore' | 'test'>, string> = {
  'file-artifact': 'falco-incident',
  'block-egress': 'falco-incident',
  'isolate-node': 'falco-incident',
  approval: 'falco-incident',
  record: 'falco-incident',
  forensics: 'ec2-forensics',
  notify: 'notify',
  'contain-pod': 'pod-containment',
};

// ---------------------------------------------------------------------------------------------
// A little of the Amazon States Language: states, transitions, JSONPath reads and writes.
// ---------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
interface State extends Json {
  Type: string;
  Next?: string;
  Default?: string;
  End?: boolean;
  Choices?: Json[];
  Catch?: { ErrorEquals: string[]; ResultPath?: string | null; Next: string }[];
  Retry?: { ErrorEquals: string[]; IntervalSeconds?: number; MaxAttempts?: number; BackoffRate?: number }[];
  ResultPath?: string | null;
  Parameters?: Json;
  ItemProcessor?: Machine;
  Iterator?: Machine;
}
interface Machine {
  StartAt: string;
  States: Record<string, State>;
}

function successors(state: State): string[] {
  return [state.Next, state.Default, ...(state.Choices ?? []).map((c) => c.Next as string | undefined), ...(state.Catch ?? []).map((c) => c.Next)].filter(
    (n): n is string => typeof n === 'string',
  );
}

/** The states reachable from `from` (itself included), optionally never entering `without`. */
function reachable(m: Machine, from: string | string[], without: ReadonlySet<string> = new Set()): Set<string> {
  const seen = new Set<string>();
  const todo = (Array.isArray(from) ? from : [from]).filter((s) => !without.has(s));
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const n of successors(m.States[s]!)) if (!without.has(n) && !seen.has(n)) todo.push(n);
  }
  return seen;
}

/** Every state machine in a definition: the top level and each Map's item processor. */
function machinesIn(m: Machine): Machine[] {
  return [m, ...Object.values(m.States).flatMap((s) => [s.ItemProcessor, s.Iterator].filter((x): x is Machine => Boolean(x)).flatMap(machinesIn))];
}

/** Tokens of a JSONPath: `$.a.b[0][*]` → ['a', 'b', 0, '*']. */
function pathTokens(path: string): (string | number)[] {
  if (!path.startsWith('$')) throw new Error(`not a JSONPath: ${path}`);
  const tokens: (string | number)[] = [];
  const re = /\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\*)\]/gy;
  re.lastIndex = 1;
  let m: RegExpExecArray | null;
  while (re.lastIndex < path.length && (m = re.exec(path))) tokens.push(m[1] ?? (m[2] === '*' ? '*' : Number(m[2])));
  if (re.lastIndex !== path.length && path.length > 1) throw new Error(`unsupported JSONPath: ${path}`);
  return tokens;
}

/** The tiny JSONPath resolver: `$`, `.name`, `[n]` and `[*]` (which maps, and flattens when repeated). */
function resolvePath(doc: unknown, path: string): { found: boolean; value?: unknown } {
  let values: unknown[] = [doc];
  let many = false;
  for (const t of pathTokens(path)) {
    const next: unknown[] = [];
    for (const v of values) {
      if (t === '*') {
        if (!Array.isArray(v)) return { found: false };
        next.push(...v);
        many = true;
      } else if (typeof t === 'number') {
        if (!Array.isArray(v) || t >= v.length) {
          if (many) continue;
          return { found: false };
        }
        next.push(v[t]);
      } else {
        if (!v || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, t)) {
          if (many) continue;
          return { found: false };
        }
        next.push((v as Json)[t]);
      }
    }
    values = next;
  }
  return { found: true, value: many ? values : values[0] };
}

/** `$`-paths (not `$$` context paths) named in a `.$` field value, including intrinsic arguments. */
function pathsInExpression(expr: string): string[] {
  if (expr.startsWith('$$')) return [];
  if (expr.startsWith('$')) return [expr];
  const withoutStrings = expr.replace(/'(?:[^'\\]|\\.)*'/g, "''");
  return [...withoutStrings.matchAll(/(?<![$\w])\$(?!\$)(?:\.[A-Za-z_][A-Za-z0-9_]*|\[(?:\d+|\*)\])*/g)].map((m) => m[0]);
}

function templatePaths(template: unknown): string[] {
  if (Array.isArray(template)) return template.flatMap(templatePaths);
  if (!template || typeof template !== 'object') return [];
  return Object.entries(template).flatMap(([k, v]) => (k.endsWith('.$') && typeof v === 'string' ? pathsInExpression(v) : templatePaths(v)));
}

function choiceReads(rule: Json): string[] {
  const nested = ['And', 'Or'].flatMap((k) => ((rule[k] as Json[] | undefined) ?? []).flatMap(choiceReads));
  const not = rule.Not ? choiceReads(rule.Not as Json) : [];
  // IsPresent is how a state asks whether a path exists: it is the one read that may miss.
  const own = typeof rule.Variable === 'string' && rule.IsPresent === undefined ? [rule.Variable] : [];
  const compared = Object.entries(rule)
    .filter(([k, v]) => k.endsWith('Path') && typeof v === 'string')
    .map(([, v]) => v as string);
  return [...own, ...compared, ...nested, ...not];
}

/** Every JSONPath a state reads from its input. */
function readsOf(state: State): string[] {
  const direct = ['InputPath', 'ItemsPath', 'TimeoutSecondsPath', 'HeartbeatSecondsPath', 'OutputPath']
    .map((k) => state[k])
    .filter((v): v is string => typeof v === 'string' && v.startsWith('$') && !v.startsWith('$$'));
  return [...direct, ...templatePaths(state.Parameters), ...templatePaths(state.ItemSelector), ...templatePaths(state.ResultSelector), ...(state.Choices ?? []).flatMap(choiceReads)];
}

/** Where states write (ResultPath, also on a Catch) and where the playbook goes next with it. */
function writesOf(m: Machine): { path: string; then: string[] }[] {
  return Object.values(m.States).flatMap((s) => [
    ...(typeof s.ResultPath === 'string' && s.ResultPath !== '$' ? [{ path: s.ResultPath, then: [s.Next, s.Default].filter((n): n is string => Boolean(n)) }] : []),
    ...(s.Catch ?? []).filter((c) => typeof c.ResultPath === 'string').map((c) => ({ path: c.ResultPath as string, then: [c.Next] })),
  ]);
}

const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);

// ---------------------------------------------------------------------------------------------
// Evaluating a payload template (Parameters) the way Step Functions does, for the intrinsics used.
// ---------------------------------------------------------------------------------------------

interface EvalContext {
  state: unknown;
  context: Json;
}

function intrinsic(expr: string, ctx: EvalContext): unknown {
  let i = 0;
  const ws = () => {
    while (expr[i] === ' ') i++;
  };
  const value = (): unknown => {
    ws();
    if (expr[i] === "'") {
      let s = '';
      i++;
      while (expr[i] !== "'") {
        if (i >= expr.length) throw new Error(`unterminated string in ${expr}`);
        if (expr[i] === '\\') i++;
        s += expr[i++];
      }
      i++;
      return s;
    }
    if (expr.startsWith('States.', i)) {
      const name = /^States\.(\w+)\(/.exec(expr.slice(i))![1]!;
      i += `States.${name}(`.length;
      const args: unknown[] = [];
      ws();
      while (expr[i] !== ')') {
        args.push(value());
        ws();
        if (expr[i] === ',') i++;
        ws();
      }
      i++;
      if (name === 'Array') return args;
      if (name === 'Format') {
        const [template, ...rest] = args as [string, ...unknown[]];
        let n = 0;
        return template.replace(/\{\}/g, () => String(rest[n++]));
      }
      if (name === 'JsonMerge') return { ...(args[0] as Json), ...(args[1] as Json) };
      throw new Error(`intrinsic States.${name} is not evaluated by this test`);
    }
    const path = /^\$\$?(?:\.[A-Za-z_][A-Za-z0-9_]*|\[(?:\d+|\*)\])*/.exec(expr.slice(i))![0];
    i += path.length;
    return evalPath(path, ctx);
  };
  return value();
}

function evalPath(path: string, ctx: EvalContext): unknown {
  const r = path.startsWith('$$') ? resolvePath(ctx.context, path.slice(1)) : resolvePath(ctx.state, path);
  if (!r.found) throw new Error(`${path} is not in the state (a States.Runtime error on Step Functions)`);
  return r.value;
}

function evaluate(template: unknown, ctx: EvalContext): unknown {
  if (Array.isArray(template)) return template.map((t) => evaluate(t, ctx));
  if (!template || typeof template !== 'object') return template;
  return Object.fromEntries(
    Object.entries(template).map(([k, v]) => (k.endsWith('.$') ? [k.slice(0, -2), typeof v === 'string' && v.startsWith('States.') ? intrinsic(v, ctx) : evalPath(v as string, ctx)] : [k, evaluate(v, ctx)])),
  );
}

// ---------------------------------------------------------------------------------------------
// Representative triage results and execution inputs.
// ---------------------------------------------------------------------------------------------

const playbooks = loadPlaybookConfig();

function triaged(event: unknown): TriageResult {
  const outcome = triageEvent(event, playbooks);
  if (!outcome.ok) throw new Error(outcome.error);
  return outcome.result;
}

const FULL_FORENSICS: ForensicsPlaybookSettings = {
  forensicInstanceId: 'i-0f0e0d0c0b0a09080',
  limeModuleBucket: 'sentinel-lime-modules',
  limeModulePrefix: 'lime',
  memoryCaptureTimeoutSeconds: 1800,
  webRoots: ['/var/www', '/srv/www'],
  createAmi: true,
  stopInstance: true,
};

function settings(forensics?: ForensicsPlaybookSettings): PlaybookSettings {
  return { approvalTimeoutSeconds: 3600, defaultDecision: 'block', ...(forensics ? { forensics } : {}) };
}

/** Every shared sample event that is not ignored, with a few made-up variations for routes and missing fields. */
function representativeTriages(): { name: string; triage: TriageResult }[] {
  const fixtures = [
    'falco-terminal-shell.json',
    'falcosidekick-reverse-shell.json',
    'fluentbit-artifact-write.json',
    'fluentbit-upload-move.json',
    'fluentbit-reverse-shell.json',
    'guardduty-ec2-reverse-shell.json',
    'guardduty-iam-credential-exfiltration.json',
  ].map((name) => ({ name, triage: triaged(loadFixture(name)) }));
  const withIp = triaged(guardDutyEvent({ remoteIp: '198.51.100.23', remotePort: 4444 }));
  const noIp = triaged(guardDutyEvent({}));
  const noInstance: TriageResult = { ...noIp, target: {}, warnings: ['forensics needs an instance id and the finding has none'] };
  const notify = triaged(guardDutyEvent({ resourceType: 'AccessKey', remoteIp: '198.51.100.24' }));
  const eks = (name: string) => triaged(JSON.parse(readFileSync(new URL(`../fixtures/guardduty-eks/${name}`, import.meta.url), 'utf8')));
  const eksRuntime = eks('runtime-reverse-shell.json');
  const base = fixtures.find((f) => f.triage.route === 'block-egress')!.triage;
  const ambiguousFile = triaged(
    fluentBitLine(`DVWA_UPLOAD_MOVE ${kv({ src: '/tmp/phpA1b2C3', dst: '/var/www/html/uploads/a proc=x cmdline=.php', proc: 'apache2', cmdline: 'apache2', user: 'www-data', container: 'dvwa', pod: 'dvwa-6d8f7c9b4-x2x9k', ns: 'dvwa' })}`),
  );
  return [
    { name: 'falco file-artifact whose path has several readings', triage: ambiguousFile },
    ...fixtures,
    { name: 'guardduty forensics with a remote IP', triage: withIp },
    { name: 'guardduty forensics without a remote IP', triage: noIp },
    { name: 'guardduty forensics without an instance', triage: noInstance },
    { name: 'guardduty notify', triage: notify },
    { name: 'guardduty EKS runtime finding in a pod', triage: eksRuntime },
    { name: 'guardduty EKS audit log finding in a pod (no node, no remote IP)', triage: eks('audit-privileged-container.json') },
    { name: 'guardduty EKS finding with a node and no pod', triage: { ...eksRuntime, target: { node: eksRuntime.target.node! }, artifact: undefined } as TriageResult },
    { name: 'falco approval', triage: { ...base, route: 'approval' as const } },
    { name: 'falco isolate-node', triage: { ...base, route: 'isolate-node' as const } },
  ].filter((t) => t.triage.route !== 'ignore');
}

function inputFor(triage: TriageResult, forensics?: ForensicsPlaybookSettings) {
  return buildPlaybookInput({
    incidentId: 'inc-20261120-0001',
    executionName: 'guardduty-b6c9f1a2-mabc12',
    startTime: '2026-11-20T03:19:00.000Z',
    triage,
    event: { sample: true },
    settings: settings(forensics),
    now: new Date('2026-11-20T03:20:00.000Z'),
  });
}

/** The bot's action registry: every task must name an action in it. */
const ACTIONS = await loadAllActions();

// ---------------------------------------------------------------------------------------------

let machines: Record<string, Machine>;
let definitions: { name: string; definition: string }[];

beforeAll(async () => {
  definitions = await loadStateMachineDefinitions(QUEUE_URL);
  machines = Object.fromEntries(definitions.map((d) => [d.name, JSON.parse(d.definition) as Machine]));
});

describe('loadStateMachineDefinitions', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sentinel-asl-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads every deploy/statemachines/*.asl.json by name, with ${ControlQueueUrl} replaced in string values', () => {
    expect(definitions.map((d) => d.name)).toEqual(['ec2-forensics', 'falco-incident', 'notify', 'pod-containment']);
    for (const d of definitions) {
      expect(d.definition).not.toContain('${');
      const queueUrls = machinesIn(JSON.parse(d.definition) as Machine)
        .flatMap((m) => Object.values(m.States))
        .filter((s) => s.Type === 'Task')
        .map((s) => s.Parameters?.QueueUrl);
      expect(queueUrls.length).toBeGreaterThan(0);
      expect(new Set(queueUrls)).toEqual(new Set([QUEUE_URL]));
    }
  });

  it('substitutes a URL with characters JSON must escape, inside string values only', async () => {
    await writeFile(join(dir, 'one.asl.json'), JSON.stringify({ StartAt: 'A', States: { A: { Type: 'Pass', Result: `x ${QUEUE_URL_PLACEHOLDER} y`, End: true } } }));
    const [one] = await loadStateMachineDefinitions('https://example.test/q?a="b"\\c', dir);
    expect(one!.name).toBe('one');
    expect((JSON.parse(one!.definition) as Machine).States.A!.Result).toBe('x https://example.test/q?a="b"\\c y');
  });

  it('refuses another placeholder, a placeholder in a key, a queue URL that is not one, and a directory without definitions', async () => {
    const other = await mkdtemp(join(tmpdir(), 'sentinel-asl-'));
    try {
      await writeFile(join(other, 'bad.asl.json'), JSON.stringify({ Comment: '${Region}', StartAt: 'A', States: { A: { Type: 'Pass', End: true } } }));
      await expect(loadStateMachineDefinitions(QUEUE_URL, other)).rejects.toThrow(/unknown placeholder \$\{Region\}/);
      await writeFile(join(other, 'bad.asl.json'), JSON.stringify({ StartAt: 'A', States: { A: { Type: 'Pass', Parameters: { [QUEUE_URL_PLACEHOLDER]: 1 }, End: true } } }));
      await expect(loadStateMachineDefinitions(QUEUE_URL, other)).rejects.toThrow(/in a key/);
      await writeFile(join(other, 'bad.asl.json'), '{ not json');
      await expect(loadStateMachineDefinitions(QUEUE_URL, other)).rejects.toBeInstanceOf(ConfigError);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
    await expect(loadStateMachineDefinitions('', dir)).rejects.toBeInstanceOf(ConfigError);
    await expect(loadStateMachineDefinitions('not a url', dir)).rejects.toThrow(/not an http/);
    const empty = await mkdtemp(join(tmpdir(), 'sentinel-asl-'));
    await expect(loadStateMachineDefinitions(QUEUE_URL, empty)).rejects.toThrow(/no \*\.asl\.json/);
    await rm(empty, { recursive: true, force: true });
  });
});

describe('every state machine', () => {
  it('is valid ASL (asl-validator) after substitution', () => {
    for (const d of definitions) {
      const r = aslValidator(JSON.parse(d.definition));
      expect(r.isValid, `${d.name}: ${r.errorsText('\n')}`).toBe(true);
    }
  });

  it('names only existing states in StartAt, Next, Default and Catch, reaches every state, and ends', () => {
    for (const [name, top] of Object.entries(machines)) {
      for (const m of machinesIn(top)) {
        const names = new Set(Object.keys(m.States));
        expect(names.has(m.StartAt), `${name}: StartAt ${m.StartAt}`).toBe(true);
        for (const [s, state] of Object.entries(m.States)) {
          for (const target of successors(state)) expect(names.has(target), `${name}: ${s} → ${target}`).toBe(true);
          if (state.Type !== 'Choice' && state.Type !== 'Succeed' && state.Type !== 'Fail') expect(Boolean(state.Next) !== Boolean(state.End), `${name}: ${s} has exactly one of Next and End`).toBe(true);
        }
        expect([...reachable(m, m.StartAt)].sort(), `${name}: unreachable states`).toEqual([...names].sort());
      }
    }
  });

  it('sends only messages the bot accepts, with action inputs the actions accept', () => {
    const sent = new Set<string>();
    for (const { name, triage } of representativeTriages()) {
      const machineName = MACHINE_OF_ROUTE[triage.route as Exclude<Route, 'ignore' | 'test'>];
      const m = machines[machineName]!;
      const input = inputFor(triage, FULL_FORENSICS);
      // The values earlier states add before the Tasks that read them.
      const state = structuredClone(input) as unknown as Json;
      const steps = state.steps as Record<string, Json>;
      state.memory = { captured: true };
      // What a Catch of sentinel.NeedsApproval.* and its Pass state write before a containment approval.
      state.escalation = { reason: 'cap', summary: 'block this egress destination, which the playbook did NOT block by itself' };
      steps.collectDisk = { ...steps.collectDisk, snapshotIds: ['snap-0a1b2c3d4e5f60718'] };
      // What NodeFromPod writes when the finding names no node: the node isolate-pod read from the pod.
      if (machineName === 'pod-containment' && !steps.isolateNode!.node) steps.isolateNode = { node: 'ip-10-0-1-10.ap-northeast-2.compute.internal' };
      steps.analyse = {
        ...steps.analyse,
        artifacts: [{ kind: 'volatile:processes', location: 's3://sentinel-evidence/evidence/inc/volatile/i-0a1b2c3d4e5f60718/processes/x.txt', sha256: 'a'.repeat(64) }],
      };
      const context = { Task: { Token: 'AQCEAAAAKgAAAAMAAAAA-opaque-token' }, Execution: { Name: input.executionName }, State: { EnteredTime: '2026-11-20T03:20:00.000Z' } };
      for (const [s, st] of Object.entries(m.States).filter(([, st]) => st.Type === 'Task')) {
        const body = evaluate(st.Parameters!.MessageBody, { state, context }) as Json;
        const parsed = parseMessage(JSON.stringify(body));
        expect(parsed.ok ? '' : parsed.reason, `${machineName} ${s} (${name})`).toBe('');
        if (!parsed.ok) continue;
        expect(parsed.parsed.kind).toBe(body.kind);
        sent.add(`${machineName}:${s}:${String(body.kind)}`);
        if (parsed.parsed.kind !== 'task') continue;
        const msg = parsed.parsed.message;
        // Steps that only run with an instance are not reached without one.
        if (machineName === 'ec2-forensics' && !input.forensics.hasInstance && !['deny-egress', 'add-malicious-ip', 'record-incident'].includes(msg.action)) continue;
        if (machineName === 'ec2-forensics' && !input.forensics.hasRemoteIp && ['deny-egress', 'add-malicious-ip'].includes(msg.action)) continue;
        if (machineName === 'falco-incident' && ['extract-file', 'quarantine-file'].includes(msg.action) && !triage.artifact) continue;
        if (machineName === 'falco-incident' && msg.action === 'deny-egress' && !triage.ioc) continue;
        if (machineName === 'pod-containment' && ['extract-file', 'quarantine-file'].includes(msg.action) && !triage.artifact) continue;
        if (machineName === 'pod-containment' && msg.action === 'deny-egress' && !triage.ioc) continue;
        if (machineName === 'pod-containment' && msg.action === 'isolate-pod' && !triage.target.pod) continue;
        const def = ACTIONS[msg.action];
        expect(def, `${s}: action ${msg.action}`).toBeDefined();
        const r = def!.input.safeParse(msg.input);
        expect(r.success ? '' : r.error.issues.map((i: { path: PropertyKey[]; message: string }) => `${i.path.join('.')}: ${i.message}`).join('; '), `${machineName} ${s} input (${name})`).toBe('');
      }
    }
    // Each playbook's messages were all exercised.
    expect([...sent].filter((k) => k.startsWith('notify:'))).toEqual(['notify:Notify:notify']);
    expect(sent).toContain('ec2-forensics:AskWaiver:approval-request');
    expect(sent).toContain('ec2-forensics:Report:report');
    expect(sent).toContain('falco-incident:AskApproval:approval-request');
    expect(sent).toContain('falco-incident:AskFileCandidates:approval-request');
    for (const s of ['IsolatePod:task', 'AskIsolatePod:approval-request', 'ExtractFile:task', 'QuarantineFile:task', 'DenyEgress:task', 'AskDenyEgress:approval-request', 'AskNodeIsolation:approval-request', 'IsolateNode:task', 'IsolateNodeNetworkOnly:task', 'Report:report']) {
      expect(sent).toContain(`pod-containment:${s}`);
    }
  });

  it('reads only JSONPaths that are in the execution input or were written by an earlier state', () => {
    let checked = 0;
    for (const forensics of [FULL_FORENSICS, undefined]) {
      for (const { name, triage } of representativeTriages()) {
        const machineName = MACHINE_OF_ROUTE[triage.route as Exclude<Route, 'ignore' | 'test'>];
        const input = inputFor(triage, forensics);
        for (const m of machinesIn(machines[machineName]!)) {
          const writes = writesOf(m);
          for (const [s, state] of Object.entries(m.States)) {
            for (const path of readsOf(state)) {
              checked++;
              const star = path.indexOf('[*]');
              const inInput = star < 0 ? resolvePath(input, path).found : Array.isArray(resolvePath(input, path.slice(0, star)).value);
              const writtenBefore = writes.some((w) => (under(path, w.path) || under(w.path, path)) && reachable(m, w.then).has(s));
              // A Map's item processor reads its item from the context ($$), so only the top level reads the input.
              expect(inInput || writtenBefore, `${machineName} ${s} reads ${path}: not in the input of "${name}" and written by no earlier state`).toBe(true);
            }
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(100);
  });
});

describe('the pod containment playbook', () => {
  const m = () => machines['pod-containment']!;
  const taskBody = (s: State) => (s.Parameters?.MessageBody ?? {}) as Json;
  const actionTasks = () => Object.entries(m().States).filter(([, s]) => s.Type === 'Task' && taskBody(s).kind === 'task');

  it('runs pod isolation, the executable, the egress block and the node question in that order when nothing fails', () => {
    const order: string[] = [];
    let at: string | undefined = m().StartAt;
    const seen = new Set<string>();
    while (at && !seen.has(at)) {
      seen.add(at);
      const s: State = m().States[at]!;
      if (s.Type === 'Task') order.push(at);
      at = s.Type === 'Choice' ? ((s.Choices![0]!.Next as string) ?? s.Default) : s.Next;
    }
    expect(order).toEqual(['IsolatePod', 'ExtractFile', 'QuarantineFile', 'DenyEgress', 'AskNodeIsolation', 'IsolateNode', 'RecordIncident', 'Report']);
  });

  it('never skips a later step because one failed, and records each failure as that step\'s result', () => {
    const tasks = (from: string) => new Set([...reachable(m(), from)].filter((n) => m().States[n]!.Type === 'Task' && taskBody(m().States[n]!).kind === 'task'));
    for (const [name, s] of actionTasks()) {
      expect(s.Retry?.find((r) => r.ErrorEquals.includes('sentinel.Transient')), `${name} retries sentinel.Transient`).toBeDefined();
      const all = s.Catch?.at(-1);
      expect(all?.ErrorEquals, `${name} catches States.ALL last`).toEqual(['States.ALL']);
      const afterSuccess = tasks(s.Next!);
      for (const c of s.Catch ?? []) {
        const afterFailure = tasks(c.Next);
        for (const t of afterSuccess) expect(afterFailure.has(t), `${name} failing (${c.ErrorEquals.join(',')}) skips ${t}`).toBe(true);
      }
      if (name === 'RecordIncident') continue;
      expect(all!.ResultPath).toBe(s.ResultPath);
      const recorder = m().States[all!.Next]!;
      expect(recorder.Type).toBe('Pass');
      expect(recorder.Parameters).toMatchObject({ status: 'failed', action: taskBody(s).action, 'error.$': s.ResultPath });
    }
    for (const name of Object.keys(m().States)) expect(reachable(m(), name).has('Report'), `${name} leads to Report`).toBe(true);
    expect(Object.entries(m().States).filter(([, s]) => s.End).map(([n]) => n)).toEqual(['Report']);
  });

  it('isolates a node only after a responder decided Block on the question, never by itself', () => {
    const isolations = actionTasks().filter(([, s]) => taskBody(s).action === 'isolate-node').map(([n]) => n);
    expect(isolations.sort()).toEqual(['IsolateNode', 'IsolateNodeNetworkOnly']);
    // Without passing the Block branch of CheckNodeDecision, no isolation is reachable.
    const withoutBlock: Machine = structuredClone(m());
    withoutBlock.States.CheckNodeDecision!.Choices = [];
    for (const n of isolations) expect(reachable(withoutBlock, withoutBlock.StartAt).has(n), n).toBe(false);
    const ask = taskBody(m().States.AskNodeIsolation!);
    expect(ask).toMatchObject({ kind: 'approval-request', proposedAction: { action: 'isolate-node', 'input.$': '$.steps.isolateNode' } });
    // The approved step sends exactly the input the responders decided on (the bot matches them).
    expect(taskBody(m().States.IsolateNode!)['input.$']).toBe('$.steps.isolateNode');
    expect(taskBody(m().States.IsolateNode!)['memory.$']).toBe('$.memory');
  });
});

describe('buildPlaybookInput for the forensics playbook', () => {
  const finding = () => triaged(guardDutyEvent({ instanceId: 'i-0a1b2c3d4e5f60718', remoteIp: '198.51.100.23', remotePort: 4444, updatedAt: '2026-11-20T03:19:00.000Z' }));

  it('prepares every step from the finding and the settings, and the window from a day before the finding to an hour after the start', () => {
    const input = inputFor(finding(), FULL_FORENSICS);
    const window = { since: '2026-11-19T03:19:00.000Z', until: '2026-11-20T04:20:00.000Z' };
    expect(input.forensics).toEqual({ hasInstance: true, hasRemoteIp: true, hasForensicInstance: true });
    expect(input.memory).toEqual({});
    expect(input.config).toEqual({ approvalTimeoutSeconds: 3600, defaultDecision: 'block', captureMemoryTimeoutSeconds: 1800 + 900, heartbeatSeconds: 120, dryRun: false });
    expect(input.steps).toMatchObject({
      addMaliciousIp: { ip: '198.51.100.23', source: 'guardduty', findingId: 'b6c9f1a2d3e4f5a6b7c8d9e0f1a2b3c4', firstSeen: '2026-11-20T03:19:00.000Z', lastSeen: '2026-11-20T03:19:00.000Z' },
      collectVolatile: { instanceId: 'i-0a1b2c3d4e5f60718', webRoots: ['/var/www', '/srv/www'] },
      captureMemory: { instanceId: 'i-0a1b2c3d4e5f60718', limeModuleBucket: 'sentinel-lime-modules', limeModulePrefix: 'lime', timeoutSeconds: 1800 },
      preserveDisk: { instanceId: 'i-0a1b2c3d4e5f60718', createAmi: true },
      isolateInstance: { node: 'i-0a1b2c3d4e5f60718', stopInstance: true },
      isolateNetworkOnly: { node: 'i-0a1b2c3d4e5f60718', stopInstance: false },
      collectDisk: { instanceId: 'i-0a1b2c3d4e5f60718', forensicInstanceId: 'i-0f0e0d0c0b0a09080', snapshotIds: [], webRoots: ['/var/www', '/srv/www'] },
      pullCloudTrail: { instanceId: 'i-0a1b2c3d4e5f60718', ...window },
      analyse: { window, findingRemoteIp: '198.51.100.23', artifacts: [] },
    });
    // The Falco steps are still there, as before; the block carries the triage severity (eviction order).
    expect(input.steps.denyEgress).toEqual({ ip: '198.51.100.23', port: 4444, node: 'ip-10-0-12-34.ap-northeast-2.compute.internal', severity: 'high' });
    expect(input.steps.isolateNode).toEqual({ node: 'ip-10-0-12-34.ap-northeast-2.compute.internal' });
  });

  it('leaves out what is not configured or not known, and never uses the compromised instance as the forensic one', () => {
    const bare = inputFor(finding());
    expect(bare.steps.captureMemory).toEqual({ instanceId: 'i-0a1b2c3d4e5f60718', limeModulePrefix: 'lime', timeoutSeconds: 3600 });
    expect(bare.steps.isolateInstance).toEqual({ node: 'i-0a1b2c3d4e5f60718' });
    expect(bare.steps.preserveDisk).toEqual({ instanceId: 'i-0a1b2c3d4e5f60718', createAmi: false });
    expect(bare.forensics.hasForensicInstance).toBe(false);
    expect(inputFor(finding(), { forensicInstanceId: 'i-0a1b2c3d4e5f60718' }).forensics.hasForensicInstance).toBe(false);
    const noInstance = inputFor({ ...finding(), target: {} }, FULL_FORENSICS);
    expect(noInstance.forensics).toEqual({ hasInstance: false, hasRemoteIp: true, hasForensicInstance: false });
    expect(noInstance.steps.collectVolatile).toEqual({});
    // A finding stamped in the future does not move the window past now; the span stays within 90 days.
    const future = inputFor({ ...finding(), time: '2027-01-01T00:00:00Z' }, { cloudTrailLookbackMinutes: 10_000_000 });
    expect(future.steps.analyse.window.until).toBe('2026-11-20T04:20:00.000Z');
    expect(Date.parse(future.steps.analyse.window.until) - Date.parse(future.steps.analyse.window.since)).toBeLessThanOrEqual(90 * 86_400_000);
    expect('firstSeen' in future.steps.addMaliciousIp).toBe(false);
  });
});

describe('the forensics playbook', () => {
  const m = () => machines['ec2-forensics']!;
  const taskBody = (s: State) => (s.Parameters?.MessageBody ?? {}) as Json;
  const actionTasks = () => Object.entries(m().States).filter(([, s]) => s.Type === 'Task' && taskBody(s).kind === 'task');

  it('runs the steps in the planned order when nothing fails', () => {
    // Follow the success transitions (Choices by their first rule's target when it is a step).
    const order: string[] = [];
    let at: string | undefined = m().StartAt;
    const seen = new Set<string>();
    while (at && !seen.has(at)) {
      seen.add(at);
      const s: State = m().States[at]!;
      if (s.Type === 'Task') order.push(at);
      at = s.Type === 'Choice' ? ((s.Choices![0]!.Next as string) ?? s.Default) : s.Next;
    }
    expect(order).toEqual(['Notify', 'DenyEgress', 'AddMaliciousIp', 'CollectVolatile', 'CaptureMemory', 'PreserveDisk', 'IsolateInstance', 'CollectDisk', 'PullCloudTrail', 'Analyse', 'RecordIncident', 'Report']);
  });

  it('retries every action step on sentinel.Transient with backoff, catches everything else, and records it as a failed result', () => {
    expect(actionTasks().length).toBeGreaterThanOrEqual(11);
    for (const [name, s] of actionTasks()) {
      const retry = s.Retry?.find((r) => r.ErrorEquals.includes('sentinel.Transient'));
      expect(retry, `${name} retries sentinel.Transient`).toBeDefined();
      expect(retry!.BackoffRate ?? 1, name).toBeGreaterThan(1);
      expect(retry!.IntervalSeconds ?? 1, name).toBeGreaterThanOrEqual(1);
      const all = s.Catch?.at(-1);
      expect(all?.ErrorEquals, `${name} catches States.ALL last`).toEqual(['States.ALL']);
      if (name === 'RecordIncident') continue; // as in the Falco playbook: $.error, then RecordFailed
      expect(all!.ResultPath).toBe(s.ResultPath);
      expect(s.ResultPath).toMatch(/^\$\.results\.[a-zA-Z]+$/);
      const recorder = m().States[all!.Next]!;
      expect(recorder.Type).toBe('Pass');
      expect(recorder.ResultPath).toBe(s.ResultPath);
      expect(recorder.Parameters).toMatchObject({ status: 'failed', action: taskBody(s).action, 'error.$': s.ResultPath });
    }
  });

  it('never skips a later step because one failed: every step reachable after a success is reachable after its failure', () => {
    const tasks = (from: string) => new Set([...reachable(m(), from)].filter((n) => m().States[n]!.Type === 'Task'));
    for (const [name, s] of actionTasks()) {
      const afterSuccess = tasks(s.Next!);
      for (const c of s.Catch ?? []) {
        const afterFailure = tasks(c.Next);
        for (const t of afterSuccess) expect(afterFailure.has(t), `${name} failing (${c.ErrorEquals.join(',')}) skips ${t}`).toBe(true);
      }
    }
    // Every path ends with the report, and only the report ends the playbook.
    for (const name of Object.keys(m().States)) expect(reachable(m(), name).has('Report'), `${name} leads to Report`).toBe(true);
    expect(Object.entries(m().States).filter(([, s]) => s.End).map(([n]) => n)).toEqual(['Report']);
    // A volatile collection that fails still leads to disk preservation.
    expect(reachable(m(), m().States.CollectVolatile!.Catch!.at(-1)!.Next).has('PreserveDisk')).toBe(true);
  });

  it('lets no step that may destroy memory run before the capture succeeded or the waiver was asked, and tells the bot which', () => {
    const memoryWriters = Object.entries(m().States).filter(([, s]) => s.ResultPath === '$.memory').map(([n]) => n);
    expect(memoryWriters.sort()).toEqual(['MemoryCaptured', 'NotWaived', 'Waived']);
    const isolations = actionTasks().filter(([, s]) => taskBody(s).action === 'isolate-node');
    expect(isolations.map(([n]) => n)).toEqual(['IsolateInstance', 'IsolateNetworkOnly']);
    const withoutMemory = reachable(m(), m().StartAt, new Set(memoryWriters));
    for (const [name, s] of isolations) {
      expect(withoutMemory.has(name), `${name} reachable without $.memory set`).toBe(false);
      expect(taskBody(s)['memory.$']).toBe('$.memory');
    }
    // Capture-memory fails or claims nothing → the waiver is asked; a timeout is "not waived".
    expect(m().States.CaptureMemory!.Catch!.at(-1)!.Next).toBe('CaptureMemoryFailed');
    expect(m().States.CaptureMemoryFailed!.Next).toBe('AskWaiver');
    expect(m().States.CheckMemoryCaptured!.Default).toBe('AskWaiver');
    const ask = taskBody(m().States.AskWaiver!);
    expect(ask.kind).toBe('approval-request');
    expect((ask.proposedAction as Json).action).toBe('waive-memory-capture');
    expect(m().States.AskWaiver!.Catch!.find((c) => c.ErrorEquals.includes('States.Timeout'))!.Next).toBe('WaiverTimedOut');
    expect(m().States.WaiverTimedOut!.Next).toBe('NotWaived');
    expect(m().States.NotWaived!).toMatchObject({ Result: { captured: false } });
    expect(m().States.Waived!).toMatchObject({ Parameters: { 'waivedBy.$': '$.waiver.by' } });
  });
});
