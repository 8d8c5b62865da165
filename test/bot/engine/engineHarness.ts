/**
 * The embedded engine under test with this test in the bot's place: each control message it
 * delivers is checked the way the bot checks it (source, sender, the bot's own parser, each task's
 * input against its action's schema) and answered the way src/handlers/handleTask.ts does: prove
 * the token live with a heartbeat, then taskSucceeded or taskFailed. No AWS, no moto.
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSilentLogger } from '../../../src/logger.js';
import { createEmbeddedEngine, EMBEDDED_ENGINE_SENDER_ID, type EmbeddedEngine, type EmbeddedEngineOptions, type ExecutionDescription } from '../../../src/bot/engine/embeddedEngine.js';
import { defaultPlaybookDir } from '../../../src/bot/engine/loadEmbeddedPlaybooks.js';
import { TaskGoneError } from '../../../src/bot/engine/stepFunctionsEngine.js';
import type { IntakeHandler, IntakeMessage, IntakeOutcome } from '../../../src/handlers/ports/intake.js';
import { parseMessage, type ParsedMessage } from '../../../src/handlers/messages.js';
import { loadAllActions } from '../../../src/pipeline/actions/registry.js';
import { buildPlaybookInput, type ForensicsPlaybookSettings } from '../../../src/pipeline/incident/playbookState.js';
import { loadPlaybookConfig } from '../../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../../src/pipeline/triage/triageEvent.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';
import { waitFor } from '../../support/aws.js';

export const INSTANCE = 'i-0a1b2c3d4e5f60718';
export const FORENSIC_INSTANCE = 'i-0f0e0d0c0b0a09080';
export const BUCKET = 'sentinel-evidence-test';
const SHA = (c: string) => c.repeat(64);

export async function tempDir(prefix = 'sentinel-engine-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** A copy of deploy/statemachines in a temp dir, `edit` applied to the named file's JSON. */
export async function playbookCopy(file: string, edit: (doc: Record<string, any>) => void): Promise<string> {
  const dir = await tempDir('sentinel-playbooks-');
  await cp(defaultPlaybookDir(), dir, { recursive: true });
  const path = join(dir, `${file}.asl.json`);
  const doc = JSON.parse(await readFile(path, 'utf8')) as Record<string, any>;
  edit(doc);
  await writeFile(path, JSON.stringify(doc, null, 2));
  return dir;
}

/** A directory holding one state machine, as `<name>.asl.json`. */
export async function playbookDirWith(definitions: Record<string, unknown>): Promise<string> {
  const dir = await tempDir('sentinel-asl-');
  for (const [name, doc] of Object.entries(definitions)) await writeFile(join(dir, `${name}.asl.json`), JSON.stringify(doc, null, 2));
  return dir;
}

const playbookRules = loadPlaybookConfig();
export function triageOf(event: unknown): TriageResult {
  const r = triageEvent(event, playbookRules);
  if (!r.ok) throw new Error(r.error);
  return r.result;
}

let counter = 0;
export function executionName(prefix = 'exec'): string {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}-${Date.now().toString(36)}-${counter}`;
}

export function playbookInput(
  name: string,
  triage: TriageResult,
  options: { approvalTimeoutSeconds?: number; defaultDecision?: 'allow' | 'block'; heartbeatSeconds?: number; forensics?: ForensicsPlaybookSettings } = {},
) {
  return buildPlaybookInput({
    incidentId: `inc-${name}`,
    executionName: name,
    startTime: '2026-11-20T03:19:00.000Z',
    triage,
    event: { sample: true },
    settings: {
      approvalTimeoutSeconds: options.approvalTimeoutSeconds ?? 3600,
      defaultDecision: options.defaultDecision ?? 'block',
      ...(options.heartbeatSeconds !== undefined ? { heartbeatSeconds: options.heartbeatSeconds } : {}),
      ...(options.forensics ? { forensics: options.forensics } : {}),
    },
    now: new Date('2026-11-20T03:20:00.000Z'),
  });
}

// ---------------------------------------------------------------------------------------------
// Representative action results: the details fields the playbooks read.
// ---------------------------------------------------------------------------------------------

export const volatileEvidence = (item: string, c: string) => ({
  kind: `volatile:${item}`,
  location: `s3://${BUCKET}/evidence/inc/volatile/${INSTANCE}/${item}/${SHA(c)}.txt`,
  sha256: SHA(c),
  size: 1234,
  collector: 'sentinel-test',
  collectedAt: '2026-11-20T03:21:00.000Z',
  source: { instanceId: INSTANCE, item, command: 'ps -eo pid,ppid,user,args', ssmCommandId: 'cmd-1' },
});
export const DISK_ARTIFACT = { kind: 'disk:bundle' as const, location: `s3://${BUCKET}/evidence/inc/disk/${INSTANCE}-0123456789ab.tar.gz`, sha256: SHA('d') };
export const CLOUDTRAIL_LOCATION = `s3://${BUCKET}/evidence/inc/${SHA('e')}/cloudtrail-events.json`;
export const SNAPSHOTS = ['snap-0a1b2c3d4e5f60718', 'snap-0b1c2d3e4f5061728'];

function details(action: string, input: Record<string, unknown>): Record<string, unknown> {
  switch (action) {
    case 'collect-volatile':
      return { instanceId: INSTANCE, evidence: [volatileEvidence('processes', 'a'), volatileEvidence('network-connections', 'b')] };
    case 'capture-memory':
      return { instanceId: INSTANCE, memoryCaptured: true, location: `s3://${BUCKET}/evidence/inc/memory/${INSTANCE}/x.lime`, sha256: SHA('c'), notes: [] };
    case 'preserve-disk':
      return {
        instanceId: INSTANCE,
        snapshots: SNAPSHOTS.map((snapshotId, i) => ({ volumeId: `vol-0${i}1b2c3d4e5f60718`, snapshotId, device: i ? '/dev/sdf' : '/dev/xvda', reused: false, state: 'pending' })),
        evidence: [],
        notes: [],
      };
    case 'collect-disk':
      return { artifacts: [DISK_ARTIFACT] };
    case 'pull-cloudtrail':
      return { instanceId: INSTANCE, location: CLOUDTRAIL_LOCATION, sha256: SHA('e'), alreadyStored: false };
    case 'analyse':
      return { findings: [], counts: { critical: 0, high: 0, medium: 0, low: 0, total: 0 }, location: `s3://${BUCKET}/evidence/inc/${SHA('f')}/analysis-findings.json`, sha256: SHA('f') };
    case 'isolate-node':
      return { node: String(input.node), stopped: input.stopInstance === true };
    case 'extract-file':
      return { path: input.path, sha256: SHA('1'), location: `file:///var/sentinel/evidence/${SHA('1')}` };
    case 'record-incident':
      return { location: `file:///var/sentinel/incidents/x.json` };
    default:
      return { input };
  }
}

// ---------------------------------------------------------------------------------------------
// The bot's part.
// ---------------------------------------------------------------------------------------------

/** `{output}` → taskSucceeded; `{error}` → taskFailed; `no answer`: the message is done, the task left waiting; `retry`: the handler asks for a redelivery. */
export type Reply = { output: object } | { error: string; cause?: string } | 'no answer' | 'retry';

export interface Delivery {
  /** `notify`, the task's action, `approval:<proposed action>`, or `report`. */
  label: string;
  parsed: ParsedMessage;
  body: Record<string, unknown>;
  message: IntakeMessage;
  at: number;
  reply?: Reply;
  /** What the engine answered to the heartbeat or the reply, when it refused. */
  refused?: string;
}

export type Answer = (d: Delivery) => Reply | Promise<Reply> | undefined;

export function labelOf(p: ParsedMessage): string {
  switch (p.kind) {
    case 'task':
      return p.message.action;
    case 'approval-request':
      return `approval:${p.message.proposedAction.action}`;
    default:
      return p.kind;
  }
}

const ACTIONS = await loadAllActions();

/** What the bot does with a task by default: the action succeeds with representative details. */
export function defaultReply(d: Delivery): Reply {
  if (d.parsed.kind !== 'task') return 'no answer';
  const msg = d.parsed.message;
  return { output: { action: msg.action, status: 'succeeded', summary: `${msg.action} done`, details: details(msg.action, msg.input as Record<string, unknown>) } };
}

export interface TestBot {
  handler: IntakeHandler;
  deliveries: Delivery[];
  labels(): string[];
  /** Problems the bot would have had with the messages (empty when all were fine). */
  problems: string[];
  /** The deliveries of one label. */
  of(label: string): Delivery[];
  report(): Extract<ParsedMessage, { kind: 'report' }>['message'] | undefined;
}

export function createTestBot(engine: () => EmbeddedEngine, answers: Record<string, Answer> = {}): TestBot {
  const deliveries: Delivery[] = [];
  const problems: string[] = [];
  const handler: IntakeHandler = async (message): Promise<IntakeOutcome> => {
    if (message.source !== 'control') problems.push(`a message from ${message.source}`);
    if (message.senderId !== EMBEDDED_ENGINE_SENDER_ID) problems.push(`a message from sender ${String(message.senderId)}`);
    const parsed = parseMessage(message.body);
    if (!parsed.ok) {
      problems.push(`unreadable message: ${parsed.reason}`);
      return 'done';
    }
    const d: Delivery = { label: labelOf(parsed.parsed), parsed: parsed.parsed, body: JSON.parse(message.body!) as Record<string, unknown>, message, at: Date.now() };
    deliveries.push(d);
    if (parsed.parsed.kind === 'task') {
      const def = ACTIONS[parsed.parsed.message.action];
      const valid = def?.input.safeParse(parsed.parsed.message.input);
      if (!valid?.success) problems.push(`${d.label}: ${def ? 'its input does not fit the action' : 'no such action'}`);
    }
    const token = (d.body as { taskToken?: string }).taskToken;
    const e = engine();
    // The bot proves a step's token live before it acts (handleTask); approvals are answered later, by a click.
    if (token && parsed.parsed.kind === 'task') {
      try {
        await e.heartbeat(token);
      } catch (err) {
        if (err instanceof TaskGoneError) {
          d.refused = err.code;
          return 'done';
        }
        throw err;
      }
    }
    d.reply = (await answers[d.label]?.(d)) ?? defaultReply(d);
    if (d.reply === 'retry') return 'retry';
    if (!token || d.reply === 'no answer') return 'done';
    try {
      if ('output' in d.reply) await e.taskSucceeded(token, d.reply.output);
      else await e.taskFailed(token, d.reply.error, d.reply.cause ?? `${d.label} failed in the test`);
    } catch (err) {
      if (!(err instanceof TaskGoneError)) throw err;
      d.refused = err.code;
    }
    return 'done';
  };
  return {
    handler,
    deliveries,
    problems,
    labels: () => deliveries.map((d) => d.label),
    of: (label) => deliveries.filter((d) => d.label === label),
    report() {
      const r = deliveries.filter((d) => d.parsed.kind === 'report');
      const only = r.length === 1 ? r[0]!.parsed : undefined;
      return only?.kind === 'report' ? only.message : undefined;
    },
  };
}

export async function startEngine(options: Partial<EmbeddedEngineOptions> & { dir: string }, answers: Record<string, Answer> = {}): Promise<{ engine: EmbeddedEngine; bot: TestBot }> {
  let engine: EmbeddedEngine | undefined;
  const bot = createTestBot(() => engine!, answers);
  engine = await createEmbeddedEngine({ logger: createSilentLogger(), ...options });
  engine.onMessage(bot.handler);
  return { engine, bot };
}

/** Waits until the execution has ended (bounded), and returns how. */
export async function waitForEnd(engine: EmbeddedEngine, name: string, timeoutMs = 60_000): Promise<ExecutionDescription> {
  return waitFor(
    async () => {
      const d = await engine.describeExecution(name);
      return d && d.status !== 'RUNNING' ? d : undefined;
    },
    { timeoutMs, intervalMs: 20, what: `execution ${name} to end` },
  );
}

/** Waits until the bot has had `count` deliveries of `label`, and returns the last. */
export async function waitForDelivery(bot: TestBot, label: string, count = 1, timeoutMs = 60_000): Promise<Delivery> {
  return waitFor(async () => bot.of(label)[count - 1], { timeoutMs, intervalMs: 10, what: `delivery ${count} of ${label}` });
}

export function taskOf(d: Delivery | undefined) {
  if (d?.parsed.kind !== 'task') throw new Error(`expected a task, got ${d?.label}`);
  return d.parsed.message;
}
