/**
 * Incident state in files, for one bot process (a per-key async mutex makes `observe` atomic
 * while the bot handles a batch of messages concurrently; it is not shared between processes).
 *
 * Layout under `dir`:
 * - `incidents/<incidentId>.json`: the state (atomic replace: temp file + rename);
 * - `incidents/<incidentId>.events.ndjson`: every observed event, one JSON line each, appended
 *   (a line cut short by a crash is moved to `….events.ndjson.torn` before the next append);
 *   also the record of which SQS message ids were seen (loaded once, then cached);
 * - `keys/<sha256(dedupeKey)>.json`: the key's current incident (and the one before it, so a
 *   late duplicate delivery from just before a window rolled over is still recognised);
 * - `executions/<executionName>.json`: which incident an execution belongs to.
 *
 * Write order for a new incident: state, then its first event, then the key index. A crash in
 * between is repaired by the derived incident id: the replayed first event maps to the same id,
 * which is found and adopted.
 *
 * This process is the store's only writer, so what it wrote is kept in memory (incident states and
 * key indexes, bounded) and read back from there. An incident's writes are group-committed: while
 * one write of an incident is under way, the changes that arrive meanwhile (repeats' event lines,
 * status) are gathered into the next one (the lines appended together, then the state written
 * once). Each call still returns only once its own change is on disk; a storm of repeats costs an
 * append per gathering, not per event. An events file stays open while it is appended to
 * (AppendHandles: closed after two idle seconds, or by `close()`), not opened and closed per append.
 *
 * A repeat's durable record is its event line: the events file is the truth about how many distinct
 * messages an incident had and when the last one was. The state's count, firstSeen and lastSeen it
 * changes are written later (`stateFlushMs`, or with the incident's next state change, or `flush()`),
 * and a state read from disk is reconciled with its events file, so a process that dies before that
 * write loses nothing.
 */
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { NotFoundError } from '../errors.js';
import {
  EXECUTION_NAME_PATTERN,
  INCIDENT_ID_PATTERN,
  INCIDENT_STATUSES,
  nextStatus,
  type IncidentState,
  type IncidentStatus,
  type IncidentStore,
  type ObserveInput,
  type ObserveResult,
  type StoredEvent,
  incidentIdFor,
  incidentStateSchema,
  isWithinWindow,
  observeInputSchema,
  storedEventLine,
  storedEventSchema,
  toStoredEvent,
} from './incidentStore.js';
import { AppendHandles } from './appendHandles.js';
import { KeyedMutex } from './keyedMutex.js';
import { corruptStateError, ensureDir, isErrno, parseNdjson, parseStored, repairTornTail, validateInput, writeFileAtomic } from './storeIo.js';

export interface FileIncidentStoreOptions {
  /** The directory to keep incidents in (created when missing). */
  dir: string;
  /** The clock for updatedAt; default `() => new Date()`. */
  now?: () => Date;
  /** fsync state writes; default true. */
  fsync?: boolean;
  /** Incidents whose seen message ids are kept in memory; default 256. */
  cachedIncidents?: number;
  /** How long a state changed only by repeats may wait before it is written; default 1000 ms. */
  stateFlushMs?: number;
}

const keyIndexSchema = z.object({
  dedupeKey: z.string().min(1),
  incidentId: z.string().regex(INCIDENT_ID_PATTERN),
  previousIncidentId: z.string().regex(INCIDENT_ID_PATTERN).optional(),
});
type KeyIndex = z.output<typeof keyIndexSchema>;

const executionIndexSchema = z.object({
  executionName: z.string().regex(EXECUTION_NAME_PATTERN),
  incidentId: z.string().regex(INCIDENT_ID_PATTERN),
});

/** The next write of one incident: event lines to append, then its state. */
interface Commit {
  lines: string[];
  /** The message ids of those lines (forgotten again if the write fails). */
  ids: string[];
  state?: IncidentState;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface SeenIds {
  ids: Set<string>;
  /** The earliest and latest event times in the events file (ms), when it has any. */
  firstAt?: number;
  lastAt?: number;
  /** The events file ends in a torn line: repair it (repairTornTail) before the next append. */
  tornTail: boolean;
}

export class FileIncidentStore implements IncidentStore {
  readonly #dir: string;
  readonly #now: () => Date;
  readonly #fsync: boolean;
  readonly #cacheSize: number;
  readonly #mutex = new KeyedMutex();
  readonly #seen = new Map<string, SeenIds>();
  /** Incident states as last written by this process (or read), most recently used last. */
  readonly #states = new Map<string, IncidentState>();
  readonly #keys = new Map<string, KeyIndex>();
  readonly #dirs = new Set<string>();
  /** Per incident: the write gathering (not started yet), and whether one is under way. */
  readonly #commits = new Map<string, Commit>();
  readonly #writing = new Set<string>();
  /** States changed by repeats and not written yet (their event lines are). */
  readonly #dirty = new Set<string>();
  readonly #stateFlushMs: number;
  /** Event files kept open between appends (a storm's repeats append to a few files many times a second). */
  readonly #appends = new AppendHandles({ mode: 0o600 });
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(options: FileIncidentStoreOptions) {
    this.#dir = options.dir;
    this.#now = options.now ?? (() => new Date());
    this.#fsync = options.fsync ?? true;
    this.#cacheSize = Math.max(1, options.cachedIncidents ?? 256);
    this.#stateFlushMs = Math.max(0, options.stateFlushMs ?? 1000);
  }

  /** Writes the states that only repeats changed (see the class comment); resolves once on disk. */
  async flush(): Promise<void> {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const ids = [...this.#dirty];
    this.#dirty.clear();
    const results = await Promise.allSettled(
      ids.map(async (id) => {
        const state = this.#states.get(id);
        if (state) await this.#commit(id, { state });
      }),
    );
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ id: ids[i]!, reason: r.reason as unknown }] : []));
    // Not written: written with the incident's next change or flush (the events file keeps what
    // they would record meanwhile); not retried on a timer, which would spin on a disk that refuses.
    for (const f of failed) if (this.#states.has(f.id)) this.#dirty.add(f.id);
    if (failed.length > 0) throw failed[0]!.reason;
  }

  /** At stop: writes what `flush` writes, then closes the event files kept open. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.#appends.closeAll();
    }
  }

  #scheduleFlush(): void {
    if (this.#flushTimer || this.#dirty.size === 0) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.flush().catch(() => undefined);
    }, this.#stateFlushMs);
    this.#flushTimer.unref();
  }

  statePath(incidentId: string): string {
    return join(this.#dir, 'incidents', `${incidentId}.json`);
  }

  eventsPath(incidentId: string): string {
    return join(this.#dir, 'incidents', `${incidentId}.events.ndjson`);
  }

  #keyPath(dedupeKey: string): string {
    return join(this.#dir, 'keys', `${createHash('sha256').update(dedupeKey).digest('hex')}.json`);
  }

  #executionPath(executionName: string): string {
    return join(this.#dir, 'executions', `${executionName}.json`);
  }

  async #readJson<S extends z.ZodType>(schema: S, path: string): Promise<z.output<S> | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    return parseStored(schema, text, path);
  }

  async #ensureDir(dir: string): Promise<void> {
    if (this.#dirs.has(dir)) return;
    await ensureDir(dir);
    this.#dirs.add(dir);
  }

  async #writeJson(path: string, value: unknown): Promise<void> {
    await this.#ensureDir(dirname(path));
    await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, { fsync: this.#fsync });
  }

  /** Keeps a map to its most recent `max` entries, sparing the ones `keep` names. */
  #trim<V>(map: Map<string, V>, max: number, keep: (key: string) => boolean = () => false): void {
    if (map.size <= max) return;
    for (const key of map.keys()) {
      if (map.size <= max) break;
      if (!keep(key)) map.delete(key);
    }
  }

  #remember(state: IncidentState): void {
    this.#states.delete(state.incidentId);
    this.#states.set(state.incidentId, state);
    // A state whose write is gathering, under way or still to come stays: the disk does not have it yet.
    this.#trim(this.#states, this.#cacheSize * 4, (id) => this.#commits.has(id) || this.#writing.has(id) || this.#dirty.has(id));
  }

  async #readIncident(incidentId: string): Promise<IncidentState | undefined> {
    if (!INCIDENT_ID_PATTERN.test(incidentId)) return undefined;
    const cached = this.#states.get(incidentId);
    if (cached) return cached;
    const path = this.statePath(incidentId);
    const stored = await this.#readJson(incidentStateSchema, path);
    if (stored && stored.incidentId !== incidentId) throw corruptStateError(path, `holds incident ${stored.incidentId}, not ${incidentId}`);
    const state = stored ? reconcile(stored, await this.#seenIds(incidentId)) : undefined;
    // Written by this process meanwhile? That one is newer.
    const meanwhile = this.#states.get(incidentId);
    if (meanwhile) return meanwhile;
    if (state) {
      this.#remember(state);
      if (state !== stored) this.#markDirty(incidentId);
    }
    return state;
  }

  #markDirty(incidentId: string): void {
    this.#dirty.add(incidentId);
    this.#scheduleFlush();
  }

  async #readKeyIndex(dedupeKey: string): Promise<KeyIndex | undefined> {
    const cached = this.#keys.get(dedupeKey);
    if (cached) return cached;
    const path = this.#keyPath(dedupeKey);
    const index = await this.#readJson(keyIndexSchema, path);
    if (index && index.dedupeKey !== dedupeKey) throw corruptStateError(path, 'belongs to another dedupe key');
    const meanwhile = this.#keys.get(dedupeKey);
    if (meanwhile) return meanwhile;
    if (index) {
      this.#keys.set(dedupeKey, index);
      this.#trim(this.#keys, this.#cacheSize * 16);
    }
    return index;
  }

  async #writeKeyIndex(dedupeKey: string, incidentId: string, previousIncidentId: string | undefined): Promise<void> {
    const previous = previousIncidentId !== undefined && previousIncidentId !== incidentId ? { previousIncidentId } : {};
    const index: KeyIndex = { dedupeKey, incidentId, ...previous };
    await this.#writeJson(this.#keyPath(dedupeKey), index);
    this.#keys.delete(dedupeKey);
    this.#keys.set(dedupeKey, index);
    this.#trim(this.#keys, this.#cacheSize * 16);
  }

  /**
   * Writes an incident's event line and/or state with the others gathered for it: resolves once
   * they are on disk (the lines appended, then the state replaced).
   */
  #commit(incidentId: string, change: { line?: string; messageId?: string; state?: IncidentState }): Promise<void> {
    let c = this.#commits.get(incidentId);
    if (!c) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      c = { lines: [], ids: [], done, resolve, reject };
      this.#commits.set(incidentId, c);
    }
    if (change.line !== undefined) c.lines.push(change.line);
    if (change.messageId !== undefined) c.ids.push(change.messageId);
    if (change.state) {
      c.state = change.state;
      // The newest state is in this write: no later one is owed for it.
      if (this.#states.get(incidentId) === change.state) this.#dirty.delete(incidentId);
    }
    if (!this.#writing.has(incidentId)) void this.#writeCommits(incidentId);
    return c.done;
  }

  async #writeCommits(incidentId: string): Promise<void> {
    this.#writing.add(incidentId);
    try {
      for (let c = this.#commits.get(incidentId); c; c = this.#commits.get(incidentId)) {
        this.#commits.delete(incidentId);
        try {
          if (c.lines.length > 0) {
            await this.#appendLines(incidentId, await this.#seenIds(incidentId), c.lines.join(''));
          }
          if (c.state) await this.#writeJson(this.statePath(incidentId), c.state);
          c.resolve();
        } catch (err) {
          // Not on disk: a redelivery of those messages must not be taken for one already seen.
          const seen = this.#seen.get(incidentId);
          for (const id of c.ids) seen?.ids.delete(id);
          c.reject(err);
        }
      }
    } finally {
      this.#writing.delete(incidentId);
    }
  }

  /** The message ids seen for an incident: cached, loaded from its events file on first use. */
  async #seenIds(incidentId: string): Promise<SeenIds> {
    const cached = this.#seen.get(incidentId);
    if (cached) {
      this.#seen.delete(incidentId);
      this.#seen.set(incidentId, cached);
      return cached;
    }
    const path = this.eventsPath(incidentId);
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    const lines = parseNdjson(storedEventSchema, text, path);
    const seen: SeenIds = { ids: new Set(lines.values.map((e) => e.messageId)), tornTail: lines.tornTail };
    for (const e of lines.values) noteEventTime(seen, Date.parse(e.at));
    this.#seen.set(incidentId, seen);
    while (this.#seen.size > this.#cacheSize) {
      const oldest = this.#seen.keys().next().value;
      if (oldest === undefined) break;
      this.#seen.delete(oldest);
    }
    return seen;
  }

  /** Appends whole lines to an incident's events file, its torn tail (if any) repaired first. */
  async #appendLines(incidentId: string, seen: SeenIds, text: string): Promise<void> {
    await this.#ensureDir(join(this.#dir, 'incidents'));
    if (seen.tornTail) await repairTornTail(this.eventsPath(incidentId));
    seen.tornTail = false;
    try {
      await this.#appends.append(this.eventsPath(incidentId), text);
    } catch (err) {
      // Part of the lines may have been written: the next append repairs the tail first.
      seen.tornTail = true;
      throw err;
    }
  }

  async #appendEvent(incidentId: string, event: StoredEvent): Promise<SeenIds> {
    const seen = await this.#seenIds(incidentId);
    await this.#appendLines(incidentId, seen, `${JSON.stringify(event)}\n`);
    seen.ids.add(event.messageId);
    noteEventTime(seen, Date.parse(event.at));
    return seen;
  }

  /**
   * Read-modify-write of one incident's state: the change is made on the newest state in memory
   * (synchronously, so no other change interleaves) and resolves once written (group-committed).
   */
  async #update(incidentId: string, change: (state: IncidentState) => IncidentState): Promise<IncidentState> {
    const loaded = await this.#readIncident(incidentId);
    const state = this.#states.get(incidentId) ?? loaded;
    if (!state) throw new NotFoundError(`No incident ${incidentId}`);
    const next = validateInput(incidentStateSchema, { ...change(state), updatedAt: this.#now().toISOString() }, 'incident state');
    this.#remember(next);
    await this.#commit(incidentId, { state: next });
    return next;
  }

  async observe(input: ObserveInput): Promise<ObserveResult> {
    const { dedupeKey, messageId, at, event, windowMs } = validateInput(observeInputSchema, input, 'observed event');
    const observed = await this.#mutex.run(`key:${dedupeKey}`, async (): Promise<ObserveResult | { result: ObserveResult; written: Promise<void> }> => {
      const index = await this.#readKeyIndex(dedupeKey);

      // Seen before (the key's current incident, or the one before it)?
      for (const id of [index?.incidentId, index?.previousIncidentId]) {
        if (id === undefined || !(await this.#seenIds(id)).ids.has(messageId)) continue;
        const incident = await this.#readIncident(id);
        if (incident) return { outcome: 'duplicate-delivery', incident };
      }

      let target = index ? await this.#readIncident(index.incidentId) : undefined;
      if (!target || !isWithinWindow(target, at)) {
        const incidentId = incidentIdFor(dedupeKey, at);
        const adopted = await this.#readIncident(incidentId);
        const previousIncidentId = target?.incidentId;
        if (!adopted) {
          const iso = at.toISOString();
          const incident: IncidentState = {
            incidentId,
            dedupeKey,
            windowStart: iso,
            windowMs,
            firstSeen: iso,
            lastSeen: iso,
            count: 1,
            firstMessageId: messageId,
            status: 'running',
            updatedAt: this.#now().toISOString(),
          };
          this.#remember(incident);
          await this.#commit(incidentId, { state: incident });
          await this.#appendEvent(incidentId, toStoredEvent(at, messageId, event));
          await this.#writeKeyIndex(dedupeKey, incidentId, previousIncidentId);
          return { outcome: 'new', incident };
        }
        // Made by an earlier run that died before it updated the key index: adopt it.
        target = adopted;
        await this.#writeKeyIndex(dedupeKey, incidentId, previousIncidentId);
        if ((await this.#seenIds(incidentId)).ids.has(messageId)) return { outcome: 'duplicate-delivery', incident: adopted };
      }

      // A repeat: counted in memory now (this key's turn stays short), written with the others
      // gathered for its incident, and returned once on disk.
      const incidentId = target.incidentId;
      const seen = await this.#seenIds(incidentId);
      const line = `${storedEventLine(at, messageId, event)}\n`;
      const s = this.#states.get(incidentId) ?? target;
      seen.ids.add(messageId);
      noteEventTime(seen, at.getTime());
      const iso = at.toISOString();
      const incident: IncidentState = {
        ...s,
        // Self-healing: the events file is the truth about how many distinct messages there were.
        count: Math.max(s.count + 1, seen.ids.size),
        firstSeen: at.getTime() < Date.parse(s.firstSeen) ? iso : s.firstSeen,
        lastSeen: at.getTime() > Date.parse(s.lastSeen) ? iso : s.lastSeen,
        updatedAt: this.#now().toISOString(),
      };
      this.#remember(incident);
      // The line is the repeat's record; the state follows (flush), unless a write of it is due anyway.
      this.#markDirty(incidentId);
      const written = this.#commit(incidentId, { line, messageId });
      return { result: { outcome: 'repeat', incident, count: incident.count }, written };
    });
    if ('written' in observed) {
      await observed.written;
      return observed.result;
    }
    return observed;
  }

  async get(incidentId: string): Promise<IncidentState | undefined> {
    return this.#readIncident(incidentId);
  }

  async findByExecution(executionName: string): Promise<IncidentState | undefined> {
    if (!EXECUTION_NAME_PATTERN.test(executionName)) return undefined;
    const path = this.#executionPath(executionName);
    const entry = await this.#readJson(executionIndexSchema, path);
    if (!entry) return undefined;
    if (entry.executionName !== executionName) throw corruptStateError(path, `names execution ${entry.executionName}`);
    return this.#readIncident(entry.incidentId);
  }

  async attachMessage(incidentId: string, channelId: string, messageId: string): Promise<IncidentState> {
    const ids = validateInput(z.object({ channelId: z.string().min(1).max(32), messageId: z.string().min(1).max(32) }), { channelId, messageId }, 'message ids');
    return this.#update(incidentId, (s) => ({ ...s, ...ids }));
  }

  async setStatus(incidentId: string, status: IncidentStatus): Promise<IncidentState> {
    const checked = validateInput(z.enum(INCIDENT_STATUSES), status, 'incident status');
    return this.#update(incidentId, (s) => ({ ...s, status: nextStatus(s.status, checked) }));
  }

  async setExecution(incidentId: string, executionName: string): Promise<IncidentState> {
    const name = validateInput(z.string().regex(EXECUTION_NAME_PATTERN, 'a Step Functions execution name'), executionName, 'execution name');
    const incident = await this.#update(incidentId, (s) => ({ ...s, executionName: name }));
    await this.#writeJson(this.#executionPath(name), { executionName: name, incidentId });
    return incident;
  }

  async readEvents(incidentId: string): Promise<StoredEvent[]> {
    if (!INCIDENT_ID_PATTERN.test(incidentId)) return [];
    const path = this.eventsPath(incidentId);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    return parseNdjson(storedEventSchema, text, path).values;
  }
}

function noteEventTime(seen: SeenIds, at: number): void {
  if (!Number.isFinite(at)) return;
  if (seen.firstAt === undefined || at < seen.firstAt) seen.firstAt = at;
  if (seen.lastAt === undefined || at > seen.lastAt) seen.lastAt = at;
}

/**
 * A state read from disk, brought up to its events file (repeats whose state write had not happened
 * when the process stopped): the same object when nothing was missing.
 */
function reconcile(state: IncidentState, seen: SeenIds): IncidentState {
  const count = Math.max(state.count, seen.ids.size);
  const first = seen.firstAt !== undefined && seen.firstAt < Date.parse(state.firstSeen) ? new Date(seen.firstAt).toISOString() : state.firstSeen;
  const last = seen.lastAt !== undefined && seen.lastAt > Date.parse(state.lastSeen) ? new Date(seen.lastAt).toISOString() : state.lastSeen;
  if (count === state.count && first === state.firstSeen && last === state.lastSeen) return state;
  return { ...state, count, firstSeen: first, lastSeen: last };
}
