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
 */
import { appendFile, readFile } from 'node:fs/promises';
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
  storedEventSchema,
  toStoredEvent,
} from './incidentStore.js';
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

interface SeenIds {
  ids: Set<string>;
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

  constructor(options: FileIncidentStoreOptions) {
    this.#dir = options.dir;
    this.#now = options.now ?? (() => new Date());
    this.#fsync = options.fsync ?? true;
    this.#cacheSize = Math.max(1, options.cachedIncidents ?? 256);
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

  async #writeJson(path: string, value: unknown): Promise<void> {
    await ensureDir(dirname(path));
    await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, { fsync: this.#fsync });
  }

  async #readIncident(incidentId: string): Promise<IncidentState | undefined> {
    if (!INCIDENT_ID_PATTERN.test(incidentId)) return undefined;
    const path = this.statePath(incidentId);
    const state = await this.#readJson(incidentStateSchema, path);
    if (state && state.incidentId !== incidentId) throw corruptStateError(path, `holds incident ${state.incidentId}, not ${incidentId}`);
    return state;
  }

  async #readKeyIndex(dedupeKey: string): Promise<KeyIndex | undefined> {
    const path = this.#keyPath(dedupeKey);
    const index = await this.#readJson(keyIndexSchema, path);
    if (index && index.dedupeKey !== dedupeKey) throw corruptStateError(path, 'belongs to another dedupe key');
    return index;
  }

  async #writeKeyIndex(dedupeKey: string, incidentId: string, previousIncidentId: string | undefined): Promise<void> {
    const previous = previousIncidentId !== undefined && previousIncidentId !== incidentId ? { previousIncidentId } : {};
    await this.#writeJson(this.#keyPath(dedupeKey), { dedupeKey, incidentId, ...previous });
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
    this.#seen.set(incidentId, seen);
    while (this.#seen.size > this.#cacheSize) {
      const oldest = this.#seen.keys().next().value;
      if (oldest === undefined) break;
      this.#seen.delete(oldest);
    }
    return seen;
  }

  async #appendEvent(incidentId: string, event: StoredEvent): Promise<SeenIds> {
    const seen = await this.#seenIds(incidentId);
    await ensureDir(join(this.#dir, 'incidents'));
    if (seen.tornTail) await repairTornTail(this.eventsPath(incidentId));
    await appendFile(this.eventsPath(incidentId), `${JSON.stringify(event)}\n`, { mode: 0o600 });
    seen.tornTail = false;
    seen.ids.add(event.messageId);
    return seen;
  }

  /** Read-modify-write of one incident's state, serialised per incident. */
  async #update(incidentId: string, change: (state: IncidentState) => IncidentState): Promise<IncidentState> {
    return this.#mutex.run(`incident:${incidentId}`, async () => {
      const state = await this.#readIncident(incidentId);
      if (!state) throw new NotFoundError(`No incident ${incidentId}`);
      const next = validateInput(incidentStateSchema, { ...change(state), updatedAt: this.#now().toISOString() }, 'incident state');
      await this.#writeJson(this.statePath(incidentId), next);
      return next;
    });
  }

  async observe(input: ObserveInput): Promise<ObserveResult> {
    const { dedupeKey, messageId, at, event, windowMs } = validateInput(observeInputSchema, input, 'observed event');
    return this.#mutex.run(`key:${dedupeKey}`, async () => {
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
          await this.#mutex.run(`incident:${incidentId}`, () => this.#writeJson(this.statePath(incidentId), incident));
          await this.#appendEvent(incidentId, toStoredEvent(at, messageId, event));
          await this.#writeKeyIndex(dedupeKey, incidentId, previousIncidentId);
          return { outcome: 'new', incident };
        }
        // Made by an earlier run that died before it updated the key index: adopt it.
        target = adopted;
        await this.#writeKeyIndex(dedupeKey, incidentId, previousIncidentId);
        if ((await this.#seenIds(incidentId)).ids.has(messageId)) return { outcome: 'duplicate-delivery', incident: adopted };
      }

      const incidentId = target.incidentId;
      const seen = await this.#appendEvent(incidentId, toStoredEvent(at, messageId, event));
      const iso = at.toISOString();
      const incident = await this.#update(incidentId, (s) => ({
        ...s,
        // Self-healing: the events file is the truth about how many distinct messages there were.
        count: Math.max(s.count + 1, seen.ids.size),
        firstSeen: at.getTime() < Date.parse(s.firstSeen) ? iso : s.firstSeen,
        lastSeen: at.getTime() > Date.parse(s.lastSeen) ? iso : s.lastSeen,
      }));
      return { outcome: 'repeat', incident, count: incident.count };
    });
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
