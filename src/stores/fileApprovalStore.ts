/**
 * The default approval store: JSON files under a directory, so approvals survive a restart.
 *
 * Layout: `<dir>/<approvalId>/r<revision, 10 digits>.json`, one immutable file per revision.
 * A write is compare-and-swap by exclusive create: the new revision is written to a temp file
 * (fsynced) and link(2)ed to the next revision's name, which fails with EEXIST if any other
 * writer (this process or another one sharing the directory) got there first; the loser re-reads
 * and re-applies its change. No lock files, so nothing goes stale when a process dies: at worst a
 * temp file is left behind. Readers take the highest revision, which is always complete.
 * Revision 1 (the request as created) and the newest few are kept; older ones are pruned.
 * Files are mode 0600: they hold task tokens.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, describeError } from '../errors.js';
import {
  APPROVAL_ID_PATTERN,
  type ApprovalRecord,
  type ApprovalRecordInput,
  type DecideInput,
  type DecideResult,
  type Transition,
  assertWritableRecord,
  approvalRecordSchema,
  decideInputSchema,
  decideTransition,
} from './approvalStore.js';
import { KeyedMutex } from './keyedMutex.js';
import { TransitionApprovalStore, type Mutation } from './transitionApprovalStore.js';
import {
  type StoreLogger,
  backoffMs,
  corruptStateError,
  createFileExclusive,
  delay,
  ensureDir,
  isErrno,
  listDir,
  parseStored,
  randomId,
  validateInput,
} from './storeIo.js';

export interface FileApprovalStoreOptions {
  /** The directory to keep approvals in (created when missing, mode 0700). */
  dir: string;
  /** The clock for markExpired and markFailed; default `() => new Date()`. */
  now?: () => Date;
  /** Where listPending reports records it cannot read. */
  logger?: StoreLogger;
  /** fsync each write; default true. */
  fsync?: boolean;
  /** Newest revisions kept besides revision 1; default 4. */
  keepRevisions?: number;
  /** Compare-and-swap attempts before giving up with ConflictError; default 100. */
  maxAttempts?: number;
}

const REVISION_FILE = /^r(\d{10})\.json$/;

export class FileApprovalStore extends TransitionApprovalStore {
  readonly #dir: string;
  readonly #now: () => Date;
  readonly #logger: StoreLogger | undefined;
  readonly #fsync: boolean;
  readonly #keep: number;
  readonly #maxAttempts: number;
  readonly #mutex = new KeyedMutex();

  constructor(options: FileApprovalStoreOptions) {
    super();
    this.#dir = options.dir;
    this.#now = options.now ?? (() => new Date());
    this.#logger = options.logger;
    this.#fsync = options.fsync ?? true;
    this.#keep = Math.max(1, options.keepRevisions ?? 4);
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 100);
  }

  protected override now(): Date {
    return this.#now();
  }

  /** Where one approval's revisions live. */
  locationOf(approvalId: string): string {
    return join(this.#dir, approvalId);
  }

  #revisionPath(approvalId: string, revision: number): string {
    return join(this.#dir, approvalId, `r${String(revision).padStart(10, '0')}.json`);
  }

  async #revisions(approvalId: string): Promise<number[] | undefined> {
    let names: string[];
    try {
      names = await readdir(this.locationOf(approvalId));
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw err;
    }
    return names
      .map((n) => REVISION_FILE.exec(n)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => b - a);
  }

  async #readLatest(approvalId: string): Promise<{ record: ApprovalRecord; revision: number } | undefined> {
    if (!APPROVAL_ID_PATTERN.test(approvalId)) return undefined;
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const revisions = await this.#revisions(approvalId);
      const revision = revisions?.[0];
      if (revision === undefined) return undefined;
      const path = this.#revisionPath(approvalId, revision);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue; // pruned after newer revisions were written: list again
        throw err;
      }
      const record = parseStored(approvalRecordSchema, text, path);
      if (record.approvalId !== approvalId) throw corruptStateError(path, `holds approval ${record.approvalId}, not ${approvalId}`);
      return { record, revision };
    }
    throw new ConflictError(`Approval ${approvalId} changed too often to be read; try again`, { code: 'Busy' });
  }

  async #prune(approvalId: string, newest: number): Promise<void> {
    const revisions = (await this.#revisions(approvalId).catch(() => undefined)) ?? [];
    for (const r of revisions) {
      if (r === 1 || r > newest - this.#keep) continue;
      await rm(this.#revisionPath(approvalId, r), { force: true }).catch(() => undefined);
    }
  }

  /**
   * Read, transform, compare-and-swap, retry. Serialised per approval inside this instance; the
   * exclusive create of the next revision guards against other instances and processes.
   */
  protected override async mutate<R>(approvalId: string, transition: (record: ApprovalRecord) => Transition<R>): Promise<Mutation<R>> {
    if (!APPROVAL_ID_PATTERN.test(approvalId)) return { found: false };
    return this.#mutex.run(approvalId, async () => {
      for (let attempt = 1; attempt <= this.#maxAttempts; attempt += 1) {
        const current = await this.#readLatest(approvalId);
        if (!current) return { found: false };
        const { next, result } = transition(current.record);
        if (!next) return { found: true, result };
        const revision = current.revision + 1;
        assertWritableRecord(next);
        // The transition's result refers to `next`; setting the revision here updates both.
        next.revision = revision;
        if (await createFileExclusive(this.#revisionPath(approvalId, revision), `${JSON.stringify(next, null, 2)}\n`, { fsync: this.#fsync })) {
          await this.#prune(approvalId, revision);
          return { found: true, result };
        }
        await delay(backoffMs(attempt));
      }
      throw new ConflictError(`Approval ${approvalId} is being changed by others; gave up after ${this.#maxAttempts} attempts`, { code: 'Busy' });
    });
  }

  async create(input: ApprovalRecordInput): Promise<ApprovalRecord> {
    const record: ApprovalRecord = { ...validateInput(approvalRecordSchema, input, 'approval record'), revision: 1 };
    await ensureDir(this.locationOf(record.approvalId));
    const created = await createFileExclusive(this.#revisionPath(record.approvalId, 1), `${JSON.stringify(record, null, 2)}\n`, { fsync: this.#fsync });
    if (!created) throw new ConflictError(`Approval ${record.approvalId} already exists`, { code: 'AlreadyExists' });
    return record;
  }

  async get(approvalId: string): Promise<ApprovalRecord | undefined> {
    return (await this.#readLatest(approvalId))?.record;
  }

  async decide(approvalId: string, input: DecideInput): Promise<DecideResult> {
    const checked = validateInput(decideInputSchema, input, 'decision');
    const decisionId = randomId(9);
    const out = await this.mutate(approvalId, (r) => decideTransition(r, checked, decisionId));
    return out.found ? out.result : { outcome: 'not-found' };
  }

  protected override async listWhere(keep: (record: ApprovalRecord) => boolean): Promise<ApprovalRecord[]> {
    const names = await listDir(this.#dir);
    const found: ApprovalRecord[] = [];
    for (const name of names.filter((n) => APPROVAL_ID_PATTERN.test(n)).sort()) {
      try {
        const latest = await this.#readLatest(name);
        if (latest && keep(latest.record)) found.push(latest.record);
      } catch (err) {
        this.#logger?.warn('approval store: skipping an approval that cannot be read', { location: this.locationOf(name), error: describeError(err) });
      }
    }
    return found.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
}
