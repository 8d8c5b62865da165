/**
 * Playbook starts recorded and not yet made: the intake records a new incident's start here and
 * returns (its SQS message is then deleted), and the starter (src/handlers/playbookStarter.ts)
 * makes it at Step Functions' pace. A start survives a crash: the next bot resumes every one left.
 *
 * One file per incident under `dir`: `<incidentId>.json`, replaced atomically and fsynced before
 * `put` returns; deleted once the execution exists (or the start failed for good).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { EXECUTION_NAME_PATTERN, INCIDENT_ID_PATTERN } from './incidentStore.js';
import { ensureDir, listDir, parseStored, validateInput, writeFileAtomic } from './storeIo.js';

export const pendingStartSchema = z.object({
  incidentId: z.string().regex(INCIDENT_ID_PATTERN),
  /** The triage route whose playbook is started. */
  route: z.string().min(1).max(64),
  executionName: z.string().regex(EXECUTION_NAME_PATTERN),
  /** The execution's input (buildPlaybookInput). */
  input: z.record(z.string(), z.unknown()),
  requestedAt: z.iso.datetime({ offset: true }),
});

export type PendingStart = z.output<typeof pendingStartSchema>;

export interface PendingStartStoreOptions {
  dir: string;
  /** fsync each record; default true. */
  fsync?: boolean;
}

export class FilePendingStartStore {
  readonly #dir: string;
  readonly #fsync: boolean;

  constructor(options: PendingStartStoreOptions) {
    this.#dir = options.dir;
    this.#fsync = options.fsync ?? true;
  }

  #path(incidentId: string): string {
    return join(this.#dir, `${incidentId}.json`);
  }

  /** Records (or replaces) the incident's pending start, durably. */
  async put(start: PendingStart): Promise<void> {
    const checked = validateInput(pendingStartSchema, start, 'pending playbook start');
    await ensureDir(this.#dir);
    await writeFileAtomic(this.#path(checked.incidentId), JSON.stringify(checked), { fsync: this.#fsync });
  }

  async delete(incidentId: string): Promise<void> {
    if (!INCIDENT_ID_PATTERN.test(incidentId)) return;
    await rm(this.#path(incidentId), { force: true });
  }

  /** Every pending start, oldest request first. A record that cannot be read is reported, not dropped. */
  async list(onUnreadable: (file: string, reason: string) => void): Promise<PendingStart[]> {
    const names = await listDir(this.#dir);
    const starts: PendingStart[] = [];
    for (const name of names.filter((n) => n.endsWith('.json') && INCIDENT_ID_PATTERN.test(n.slice(0, -5)))) {
      const path = join(this.#dir, name);
      try {
        starts.push(parseStored(pendingStartSchema, await readFile(path, 'utf8'), path));
      } catch (err) {
        onUnreadable(path, (err as Error).message);
      }
    }
    return starts.sort((a, b) => a.requestedAt.localeCompare(b.requestedAt));
  }
}
