import { createHash } from 'node:crypto';
import { ConfigError } from '../../errors.js';

/**
 * Checks one playbook (an ASL document from deploy/statemachines, `${ControlQueueUrl}` already
 * substituted with EMBEDDED_QUEUE_URL) for what the embedded engine runs exactly as Step Functions
 * does, and derives the interpreter's working copy from it: the same states, with the few fields
 * the engine itself enforces (task timeouts and heartbeats) taken out of the interpreter's hands.
 * Pure: no I/O. Anything the engine cannot run faithfully is refused here, naming the file and the
 * state, rather than run differently.
 */

/** The control queue URL the playbooks are loaded with in embedded mode (never contacted). */
export const EMBEDDED_QUEUE_URL = 'https://sentinel.embedded.invalid/control';

export const SQS_SEND = 'arn:aws:states:::sqs:sendMessage';
export const SQS_SEND_WAIT = 'arn:aws:states:::sqs:sendMessage.waitForTaskToken';

/**
 * The interpreter races every Task against a timer of its own (setTimeout, so at most 2^31-1 ms).
 * The engine enforces the real TimeoutSeconds and HeartbeatSeconds itself, from the journal, and
 * gives the interpreter this ceiling so that its timer never fires first.
 */
export const INTERPRETER_TIMEOUT_SECONDS = 2_147_483;
/** The longest one task waits in one run of the process (a restart re-arms it from the journal). */
export const MAX_TASK_WAIT_SECONDS = INTERPRETER_TIMEOUT_SECONDS - 60;

/** The context object fields the engine provides (`$$.…`), as Step Functions does. */
const CONTEXT_PATHS = [
  '$$.Execution.Id',
  '$$.Execution.Name',
  '$$.Execution.Input',
  '$$.StateMachine.Id',
  '$$.StateMachine.Name',
  '$$.State.Name',
  '$$.State.EnteredTime',
  '$$.State.RetryCount',
  '$$.Task.Token',
  '$$.Map.Item.Index',
  '$$.Map.Item.Value',
];
/** Intrinsics whose value would differ when an execution is replayed after a restart. */
const NONDETERMINISTIC_INTRINSICS = ['States.UUID', 'States.MathRandom'];

const TASK_TIMING_FIELDS = ['TimeoutSeconds', 'TimeoutSecondsPath', 'HeartbeatSeconds', 'HeartbeatSecondsPath'] as const;
const SQS_PARAMETERS = new Set(['QueueUrl', 'MessageBody', 'MessageBody.$']);

export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}

/** What the engine needs to know about one Task state. */
export interface EmbeddedTaskSpec {
  state: string;
  /** `.waitForTaskToken`: the task waits for taskSucceeded/taskFailed; otherwise it ends once the message is queued. */
  waitForTaskToken: boolean;
  timeoutSeconds?: number;
  timeoutSecondsPath?: string;
  heartbeatSeconds?: number;
  heartbeatSecondsPath?: string;
  retry: Retrier[];
}

/** The parameters the interpreter hands the engine for a Task of the working copy. */
export interface TaskInvocation {
  sqs: { QueueUrl?: unknown; MessageBody?: unknown };
  timeoutSeconds?: unknown;
  heartbeatSeconds?: unknown;
}

export interface EmbeddedPlaybook {
  /** The file name without `.asl.json`. */
  name: string;
  /** The definition as loaded (JSON text): what is journalled, and what a resumed execution runs. */
  text: string;
  sha256: string;
  /** The interpreter's working copy (see the module comment). */
  runnable: { StartAt: string; States: Record<string, Record<string, unknown>> } & Record<string, unknown>;
  tasks: ReadonlyMap<string, EmbeddedTaskSpec>;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every string in a JSON value (keys included), for the context-path and intrinsic checks. */
function stringsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out);
  else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      stringsIn(v, out);
    }
  }
  return out;
}

function contextProblems(where: string, value: unknown, allowTaskToken: boolean, allowStateContext: boolean): string[] {
  const problems: string[] = [];
  for (const s of stringsIn(value)) {
    for (const m of s.matchAll(/\$\$(?:\.[A-Za-z_][A-Za-z0-9_]*)*/g)) {
      const path = m[0];
      if (!CONTEXT_PATHS.some((p) => path === p || path.startsWith(`${p}.`))) {
        problems.push(`${where}: the context path ${path} is not provided by the embedded engine (it provides ${CONTEXT_PATHS.join(', ')})`);
      } else if (path.startsWith('$$.Task.') && !allowTaskToken) {
        problems.push(`${where}: $$.Task.Token exists only in the Parameters of a .waitForTaskToken task`);
      } else if ((path.startsWith('$$.State.') || path.startsWith('$$.Task.')) && !allowStateContext) {
        problems.push(`${where}: ${path} inside a Map or Parallel is not supported by the embedded engine`);
      }
    }
    for (const f of NONDETERMINISTIC_INTRINSICS) {
      if (s.includes(`${f}(`)) problems.push(`${where}: ${f} gives a different value when an execution is resumed after a restart; the embedded engine refuses it`);
    }
  }
  return problems;
}

function errorNameProblems(where: string, state: Json): string[] {
  const lists = [...((state.Retry as Json[] | undefined) ?? []), ...((state.Catch as Json[] | undefined) ?? [])].map((r) => (r.ErrorEquals as unknown[] | undefined) ?? []);
  return lists.some((l) => l.includes('States.TaskFailed'))
    ? [`${where}: States.TaskFailed is not supported by the embedded engine (its interpreter would match timeouts with it); name the errors, or use States.ALL`]
    : [];
}

function checkNested(file: string, outer: string, machine: unknown, problems: string[]): void {
  if (!isObject(machine) || !isObject(machine.States)) return;
  for (const [name, state] of Object.entries(machine.States)) {
    if (!isObject(state)) continue;
    const where = `${file}: state ${outer} › ${name}`;
    if (state.Type === 'Task') problems.push(`${where}: a Task inside a Map or Parallel is not supported by the embedded engine (steps must be top-level states)`);
    if (state.Type === 'Wait') problems.push(`${where}: Wait states are not supported by the embedded engine`);
    problems.push(...contextProblems(where, state, false, false));
    for (const inner of nestedMachines(state)) checkNested(file, `${outer} › ${name}`, inner, problems);
  }
}

function nestedMachines(state: Json): unknown[] {
  return [state.ItemProcessor, state.Iterator, ...(Array.isArray(state.Branches) ? state.Branches : [])].filter((m) => m !== undefined);
}

function taskProblems(where: string, state: Json): string[] {
  const problems: string[] = [];
  const resource = state.Resource;
  if (resource !== SQS_SEND && resource !== SQS_SEND_WAIT) {
    return [`${where}: Resource ${JSON.stringify(resource)} cannot run in-process; the embedded engine runs ${SQS_SEND} and ${SQS_SEND_WAIT} to the control queue only`];
  }
  for (const k of ['Credentials', 'Arguments', 'Output', 'Assign', 'QueryLanguage']) if (k in state) problems.push(`${where}: ${k} is not supported by the embedded engine`);
  const params = state.Parameters;
  if (!isObject(params)) return [...problems, `${where}: an SQS task needs Parameters with QueueUrl and MessageBody`];
  if (params.QueueUrl !== EMBEDDED_QUEUE_URL) problems.push(`${where}: QueueUrl must be \${ControlQueueUrl} (the bot's control queue); the embedded engine delivers nothing else`);
  for (const k of Object.keys(params)) if (!SQS_PARAMETERS.has(k)) problems.push(`${where}: the SQS parameter ${k} is not supported by the embedded engine`);
  if (!('MessageBody' in params) && !('MessageBody.$' in params)) problems.push(`${where}: an SQS task needs a MessageBody`);
  if (resource === SQS_SEND_WAIT && !stringsIn(params).some((s) => s.includes('$$.Task.Token'))) {
    problems.push(`${where}: a .waitForTaskToken task must pass $$.Task.Token in its message`);
  }
  if (resource === SQS_SEND && TASK_TIMING_FIELDS.some((f) => f.startsWith('Heartbeat') && f in state)) {
    problems.push(`${where}: HeartbeatSeconds needs a .waitForTaskToken task`);
  }
  if ('TimeoutSeconds' in state && 'TimeoutSecondsPath' in state) problems.push(`${where}: TimeoutSeconds and TimeoutSecondsPath together`);
  if ('HeartbeatSeconds' in state && 'HeartbeatSecondsPath' in state) problems.push(`${where}: HeartbeatSeconds and HeartbeatSecondsPath together`);
  return problems;
}

/** The interpreter's copy of one Task: the engine enforces timeouts; the message and the timing paths come to it resolved. */
function runnableTask(state: Json, spec: EmbeddedTaskSpec): Json {
  const copy: Json = structuredClone(state);
  for (const f of TASK_TIMING_FIELDS) delete copy[f];
  copy.TimeoutSeconds = INTERPRETER_TIMEOUT_SECONDS;
  copy.Parameters = {
    sqs: state.Parameters,
    ...(spec.timeoutSecondsPath ? { 'timeoutSeconds.$': spec.timeoutSecondsPath } : {}),
    ...(spec.heartbeatSecondsPath ? { 'heartbeatSeconds.$': spec.heartbeatSecondsPath } : {}),
  };
  // Step Functions: States.Timeout also matches a heartbeat timeout (States.HeartbeatTimeout).
  if (spec.heartbeatSeconds !== undefined || spec.heartbeatSecondsPath !== undefined) {
    for (const key of ['Retry', 'Catch']) {
      for (const r of (copy[key] as Json[] | undefined) ?? []) {
        const names = r.ErrorEquals as string[];
        if (names.includes('States.Timeout') && !names.includes('States.HeartbeatTimeout')) r.ErrorEquals = [...names, 'States.HeartbeatTimeout'];
      }
    }
  }
  return copy;
}

/** ResultPath "$" means "replace the input" in Step Functions, the same as leaving it out; the interpreter wants it left out. */
function normalizeResultPaths(state: Json): void {
  if (state.ResultPath === '$') delete state.ResultPath;
  for (const c of (state.Catch as Json[] | undefined) ?? []) if (c.ResultPath === '$') delete c.ResultPath;
}

/**
 * Checks a playbook and prepares it for the embedded engine. Throws ConfigError listing every
 * problem (file, state, what) when any construct cannot run in-process as it would on Step Functions.
 */
export function prepareEmbeddedPlaybook(name: string, text: string): EmbeddedPlaybook {
  const file = `${name}.asl.json`;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isObject(doc) || typeof doc.StartAt !== 'string' || !isObject(doc.States)) throw new ConfigError(`${file}: not a state machine (StartAt and States are required)`);
  const problems: string[] = [];
  if ('TimeoutSeconds' in doc) problems.push(`${file}: a state machine TimeoutSeconds is not supported by the embedded engine`);
  if ('QueryLanguage' in doc && doc.QueryLanguage !== 'JSONPath') problems.push(`${file}: QueryLanguage ${String(doc.QueryLanguage)} is not supported by the embedded engine (JSONPath only)`);
  const tasks = new Map<string, EmbeddedTaskSpec>();
  const runnableStates: Record<string, Json> = {};
  for (const [stateName, raw] of Object.entries(doc.States)) {
    if (!isObject(raw)) {
      problems.push(`${file}: state ${stateName} is not an object`);
      continue;
    }
    const where = `${file}: state ${stateName}`;
    if ('QueryLanguage' in raw && raw.QueryLanguage !== 'JSONPath') problems.push(`${where}: QueryLanguage ${String(raw.QueryLanguage)} is not supported by the embedded engine`);
    if (raw.Type === 'Wait') problems.push(`${where}: Wait states are not supported by the embedded engine`);
    problems.push(...errorNameProblems(where, raw));
    for (const inner of nestedMachines(raw)) checkNested(file, stateName, inner, problems);
    let copy: Json = structuredClone(raw);
    if (raw.Type === 'Task') {
      const own = taskProblems(where, raw);
      problems.push(...own);
      problems.push(...contextProblems(where, raw.Parameters, raw.Resource === SQS_SEND_WAIT, true));
      problems.push(...contextProblems(where, { ...raw, Parameters: undefined }, false, true));
      if (own.length === 0) {
        const spec: EmbeddedTaskSpec = {
          state: stateName,
          waitForTaskToken: raw.Resource === SQS_SEND_WAIT,
          ...(typeof raw.TimeoutSeconds === 'number' ? { timeoutSeconds: raw.TimeoutSeconds } : {}),
          ...(typeof raw.TimeoutSecondsPath === 'string' ? { timeoutSecondsPath: raw.TimeoutSecondsPath } : {}),
          ...(typeof raw.HeartbeatSeconds === 'number' ? { heartbeatSeconds: raw.HeartbeatSeconds } : {}),
          ...(typeof raw.HeartbeatSecondsPath === 'string' ? { heartbeatSecondsPath: raw.HeartbeatSecondsPath } : {}),
          retry: [],
        };
        copy = runnableTask(raw, spec);
        // The retriers as the interpreter runs them (States.HeartbeatTimeout added where States.Timeout is named).
        spec.retry = structuredClone((copy.Retry as Retrier[] | undefined) ?? []);
        tasks.set(stateName, spec);
      }
    } else {
      problems.push(...contextProblems(where, raw, false, true));
    }
    normalizeResultPaths(copy);
    runnableStates[stateName] = copy;
  }
  if (problems.length) throw new ConfigError(`the embedded engine cannot run ${file}:\n- ${problems.join('\n- ')}`, { code: 'UnsupportedPlaybook', details: { file, problems } });
  return {
    name,
    text,
    sha256: createHash('sha256').update(text).digest('hex'),
    runnable: { ...structuredClone(doc), StartAt: doc.StartAt, States: runnableStates },
    tasks,
  };
}
