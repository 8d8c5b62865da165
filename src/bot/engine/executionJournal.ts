import { open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { createFileExclusive, isErrno, parseNdjson, repairTornTail } from '../../stores/storeIo.js';

/**
 * One execution's journal: `<dir>/executions/<execution name>.jsonl`, append-only JSON lines,
 * each append fsync'd before the engine acts on it (mode 0600). What it holds is enough to replay
 * the execution after a crash: its input and definition, when each state was entered, every task
 * message sent (with its attempt's timing), heartbeats, every task's outcome, what became of each
 * message, and the end. A line cut short by a crash is moved aside (`.torn`) before the next append.
 */

const iso = z.iso.datetime({ offset: true });
const seq = z.number().int().min(0);

export const journalRecordSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('started'),
    v: z.literal(1),
    name: z.string().min(1),
    /** The playbook file name without `.asl.json`. */
    machine: z.string().min(1),
    /** sha256 of the definition text, kept in `<dir>/definitions/<sha256>.json`. */
    definitionSha256: z.string().regex(/^[0-9a-f]{64}$/),
    input: z.record(z.string(), z.unknown()),
    at: iso,
  }),
  z.object({ type: z.literal('entered'), transition: seq, state: z.string(), at: iso }),
  z.object({
    type: z.literal('task-sent'),
    seq,
    transition: seq,
    state: z.string(),
    attempt: seq,
    messageId: z.string().min(1),
    /** The message body as delivered (a waiting task's body carries its token: the journal is state, never logged). */
    body: z.string(),
    waitForTaskToken: z.boolean(),
    sentAt: iso,
    timeoutSeconds: z.number().positive().optional(),
    heartbeatSeconds: z.number().positive().optional(),
  }),
  z.object({ type: z.literal('task-heartbeat'), seq, at: iso }),
  z.object({ type: z.literal('task-succeeded'), seq, output: z.unknown(), at: iso }),
  z.object({ type: z.literal('task-failed'), seq, error: z.string(), cause: z.string(), at: iso }),
  z.object({ type: z.literal('message-received'), messageId: z.string(), receiveCount: z.number().int().min(1), at: iso }),
  z.object({ type: z.literal('message-acked'), messageId: z.string(), at: iso }),
  z.object({ type: z.literal('message-dead'), messageId: z.string(), receiveCount: z.number().int().min(0), reason: z.string(), at: iso }),
  z.object({
    type: z.literal('ended'),
    status: z.enum(['SUCCEEDED', 'FAILED']),
    output: z.unknown().optional(),
    error: z.string().optional(),
    cause: z.string().optional(),
    at: iso,
  }),
]);

export type JournalRecord = z.output<typeof journalRecordSchema>;
export type JournalRecordOf<T extends JournalRecord['type']> = Extract<JournalRecord, { type: T }>;

/** Execution names are file names here: what the bot produces (executionNameFor), at most 80 characters. */
export const EXECUTION_NAME_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;

export class ExecutionJournals {
  readonly dir: string;
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #repaired = new Set<string>();

  constructor(engineDir: string) {
    this.dir = join(engineDir, 'executions');
  }

  pathOf(name: string): string {
    return join(this.dir, `${name}.jsonl`);
  }

  /** Creates the journal with its first record; false when it already exists (the execution was started before). */
  async create(started: JournalRecordOf<'started'>): Promise<boolean> {
    return createFileExclusive(this.pathOf(started.name), `${JSON.stringify(started)}\n`);
  }

  async exists(name: string): Promise<boolean> {
    try {
      await (await open(this.pathOf(name), 'r')).close();
      return true;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    }
  }

  /** Appends records with one write and fsyncs; appends to one journal go out in call order. */
  append(name: string, records: readonly JournalRecord[]): Promise<void> {
    if (!records.length) return Promise.resolve();
    const path = this.pathOf(name);
    const text = records.map((r) => `${JSON.stringify(r)}\n`).join('');
    const previous = this.#queues.get(name) ?? Promise.resolve();
    const next = previous.then(async () => {
      if (!this.#repaired.has(name)) {
        await repairTornTail(path);
        this.#repaired.add(name);
      }
      const handle = await open(path, 'a', 0o600);
      try {
        await handle.appendFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    const settled = next.catch(() => undefined);
    this.#queues.set(name, settled);
    void settled.then(() => {
      if (this.#queues.get(name) === settled) this.#queues.delete(name);
    });
    return next;
  }

  /** Every record of a journal, validated; a corrupt line is an error naming the file and line. */
  async read(name: string): Promise<JournalRecord[]> {
    const path = this.pathOf(name);
    const { values } = parseNdjson(journalRecordSchema, await readFile(path, 'utf8'), path);
    const first = values[0];
    if (first?.type !== 'started' || first.name !== name) throw new Error(`${path}: the first record is not this execution's start`);
    return values;
  }

  /** The execution names that have a journal. */
  async names(): Promise<string[]> {
    try {
      return (await readdir(this.dir))
        .filter((f) => f.endsWith('.jsonl'))
        .map((f) => f.slice(0, -'.jsonl'.length))
        .filter((n) => EXECUTION_NAME_PATTERN.test(n))
        .sort();
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  async remove(name: string): Promise<void> {
    await rm(this.pathOf(name), { force: true });
    await rm(`${this.pathOf(name)}.torn`, { force: true });
  }
}
