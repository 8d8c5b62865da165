import { appendFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileIncidentStore } from '../../src/stores/fileIncidentStore.js';
import { MAX_STORED_EVENT_BYTES, incidentIdFor, type ObserveInput } from '../../src/stores/incidentStore.js';
import { NotFoundError, ValidationError } from '../../src/errors.js';
import { descriptorsOn } from '../helpers/descriptorsOn.js';

const dirs: string[] = [];
const stores: FileIncidentStore[] = [];
afterAll(async () => {
  // States repeats changed are written now, not by a store's timer while the directories are removed.
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sentinel-incidents-'));
  dirs.push(dir);
  return dir;
}

const T0 = new Date('2026-03-01T10:00:00.000Z');
const WINDOW = 10 * 60_000;
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

function obs(messageId: string, seconds: number, overrides: Partial<ObserveInput> = {}): ObserveInput {
  return { dedupeKey: 'falco:shell-in-container:web/web-1', messageId, at: at(seconds), event: { rule: 'Terminal shell in container', n: messageId }, windowMs: WINDOW, ...overrides };
}

async function newStore(dir?: string) {
  const d = dir ?? (await tempDir());
  const store = new FileIncidentStore({ dir: d, fsync: false, now: () => at(0) });
  stores.push(store);
  return { dir: d, store };
}

describe('FileIncidentStore', () => {
  it('the first event of a key is new, later ones in the window are repeats, kept with the incident', async () => {
    const { store } = await newStore();
    const first = await store.observe(obs('m-1', 0));
    expect(first.outcome).toBe('new');
    expect(first.incident).toMatchObject({
      incidentId: incidentIdFor('falco:shell-in-container:web/web-1', at(0)),
      count: 1,
      firstSeen: at(0).toISOString(),
      lastSeen: at(0).toISOString(),
      windowStart: at(0).toISOString(),
      status: 'running',
    });
    expect(first.incident.incidentId).toMatch(/^inc-[0-9a-f]{20}$/);

    const second = await store.observe(obs('m-2', 30));
    expect(second).toMatchObject({ outcome: 'repeat', count: 2, incident: { incidentId: first.incident.incidentId, lastSeen: at(30).toISOString() } });
    const third = await store.observe(obs('m-3', 599));
    expect(third).toMatchObject({ outcome: 'repeat', count: 3 });

    const events = await store.readEvents(first.incident.incidentId);
    expect(events.map((e) => [e.messageId, e.at])).toEqual([
      ['m-1', at(0).toISOString()],
      ['m-2', at(30).toISOString()],
      ['m-3', at(599).toISOString()],
    ]);
    expect(events[1]?.event).toEqual({ rule: 'Terminal shell in container', n: 'm-2' });
    expect(await store.get(first.incident.incidentId)).toEqual(third.incident);
  });

  it('a redelivered SQS message is a duplicate delivery: not counted, not stored again', async () => {
    const { store } = await newStore();
    const first = await store.observe(obs('m-1', 0));
    await store.observe(obs('m-2', 10));
    const again = await store.observe(obs('m-2', 10));
    expect(again).toMatchObject({ outcome: 'duplicate-delivery', incident: { count: 2 } });
    const firstAgain = await store.observe(obs('m-1', 0));
    expect(firstAgain.outcome).toBe('duplicate-delivery');
    expect(await store.readEvents(first.incident.incidentId)).toHaveLength(2);
  });

  it('after the window closes the next event opens a new incident; a late redelivery from the old one is still a duplicate', async () => {
    const { store } = await newStore();
    const first = await store.observe(obs('m-1', 0));
    await store.observe(obs('m-2', 300));

    const next = await store.observe(obs('m-3', WINDOW / 1000));
    expect(next.outcome).toBe('new');
    expect(next.incident.incidentId).toBe(incidentIdFor('falco:shell-in-container:web/web-1', at(WINDOW / 1000)));
    expect(next.incident.incidentId).not.toBe(first.incident.incidentId);
    expect((await store.get(first.incident.incidentId))?.count).toBe(2);

    const late = await store.observe(obs('m-2', 300));
    expect(late).toMatchObject({ outcome: 'duplicate-delivery', incident: { incidentId: first.incident.incidentId } });
    expect((await store.observe(obs('m-4', 700))).outcome).toBe('repeat');
  });

  it('an event older than the open incident counts as a repeat and moves firstSeen back', async () => {
    const { store } = await newStore();
    await store.observe(obs('m-1', 100));
    const early = await store.observe(obs('m-0', 40));
    expect(early).toMatchObject({ outcome: 'repeat', count: 2, incident: { firstSeen: at(40).toISOString(), lastSeen: at(100).toISOString(), windowStart: at(100).toISOString() } });
  });

  it('different dedupe keys are different incidents', async () => {
    const { store } = await newStore();
    const a = await store.observe(obs('m-1', 0));
    const b = await store.observe(obs('m-2', 0, { dedupeKey: 'falco:shell-in-container:web/web-2' }));
    expect([a.outcome, b.outcome]).toEqual(['new', 'new']);
    expect(a.incident.incidentId).not.toBe(b.incident.incidentId);
  });

  it('of 50 concurrent observations of one key exactly one is new; the count ends at 50 with every event kept', async () => {
    const { store } = await newStore();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.observe(obs(`m-${i}`, i % 7))));
    expect(results.filter((r) => r.outcome === 'new')).toHaveLength(1);
    const repeats = results.flatMap((r) => (r.outcome === 'repeat' ? [r.count] : []));
    expect(repeats.sort((x, y) => x - y)).toEqual(Array.from({ length: 49 }, (_, i) => i + 2));
    const id = results[0]!.incident.incidentId;
    expect((await store.get(id))?.count).toBe(50);
    expect(new Set((await store.readEvents(id)).map((e) => e.messageId)).size).toBe(50);
  });

  it('concurrent redeliveries of the same messages are counted once', async () => {
    const { store } = await newStore();
    const inputs = Array.from({ length: 20 }, (_, i) => obs(`m-${i}`, 1));
    const results = await Promise.all([...inputs, ...inputs].map((input) => store.observe(input)));
    expect(results.filter((r) => r.outcome === 'duplicate-delivery')).toHaveLength(20);
    expect((await store.get(results[0]!.incident.incidentId))?.count).toBe(20);
  });

  it('a new store instance on the same directory continues the incident and still recognises seen messages', async () => {
    const { dir, store } = await newStore();
    const first = await store.observe(obs('m-1', 0));
    await store.setExecution(first.incident.incidentId, 'exec-abc');

    const { store: restarted } = await newStore(dir);
    expect((await restarted.observe(obs('m-1', 0))).outcome).toBe('duplicate-delivery');
    expect(await restarted.observe(obs('m-2', 5))).toMatchObject({ outcome: 'repeat', count: 2 });
    expect((await restarted.findByExecution('exec-abc'))?.incidentId).toBe(first.incident.incidentId);
  });

  it('adopts the incident an earlier run made but did not index (crash before the key index was written)', async () => {
    const { dir, store } = await newStore();
    const first = await store.observe(obs('m-1', 0));
    await rm(join(dir, 'keys'), { recursive: true });

    const { store: restarted } = await newStore(dir);
    expect(await restarted.observe(obs('m-1', 0))).toMatchObject({ outcome: 'duplicate-delivery', incident: { incidentId: first.incident.incidentId } });
    expect(await restarted.observe(obs('m-2', 1))).toMatchObject({ outcome: 'repeat', count: 2, incident: { incidentId: first.incident.incidentId } });
  });

  it('keeps an event of up to 256 KiB whole, and a larger one as its first 256 KiB with size and hash', async () => {
    const { store } = await newStore();
    const small = { output: 'x'.repeat(1000) };
    const big = { output: 'y'.repeat(MAX_STORED_EVENT_BYTES + 10) };
    const first = await store.observe(obs('m-1', 0, { event: small }));
    await store.observe(obs('m-2', 1, { event: big }));
    const [kept, capped] = await store.readEvents(first.incident.incidentId);
    expect(kept?.event).toEqual(small);
    expect(capped?.event).toBeUndefined();
    expect(capped?.truncated?.bytes).toBe(Buffer.byteLength(JSON.stringify(big)));
    expect(capped?.truncated?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.byteLength(capped!.truncated!.prefix)).toBe(MAX_STORED_EVENT_BYTES);
    expect(capped?.truncated?.prefix.startsWith('{"output":"yyy')).toBe(true);
  });

  it('records the execution, message and status; unknown incidents and bad values are refused', async () => {
    const { store } = await newStore();
    const { incident } = await store.observe(obs('m-1', 0));
    await store.setExecution(incident.incidentId, 'exec-1');
    await store.attachMessage(incident.incidentId, '123456789012345678', '223456789012345678');
    const done = await store.setStatus(incident.incidentId, 'awaiting-approval');
    expect(done).toMatchObject({ executionName: 'exec-1', channelId: '123456789012345678', messageId: '223456789012345678', status: 'awaiting-approval', count: 1 });
    expect(await store.findByExecution('exec-1')).toEqual(done);
    expect(await store.findByExecution('exec-unknown')).toBeUndefined();
    expect(await store.findByExecution('../../x')).toBeUndefined();

    await expect(store.setStatus('inc-00000000000000000000', 'done')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.setStatus(incident.incidentId, 'closed' as 'done')).rejects.toBeInstanceOf(ValidationError);
    await expect(store.setExecution(incident.incidentId, 'has spaces')).rejects.toBeInstanceOf(ValidationError);
    await expect(store.observe({ ...obs('m-9', 0), windowMs: 0 })).rejects.toBeInstanceOf(ValidationError);
    expect(await store.get('inc-00000000000000000000')).toBeUndefined();
  });

  it('moves a status only forward: running and awaiting-approval alternate, done and failed are final', async () => {
    const { store } = await newStore();
    const { incident } = await store.observe(obs('m-1', 0));
    expect((await store.setStatus(incident.incidentId, 'awaiting-approval')).status).toBe('awaiting-approval');
    expect((await store.setStatus(incident.incidentId, 'running')).status).toBe('running');
    expect((await store.setStatus(incident.incidentId, 'failed')).status).toBe('failed');
    for (const later of ['running', 'awaiting-approval', 'done'] as const) {
      expect((await store.setStatus(incident.incidentId, later)).status).toBe('failed');
    }
    expect((await store.get(incident.incidentId))?.status).toBe('failed');
  });

  it('a corrupt state file is an error naming the file', async () => {
    const { dir, store } = await newStore();
    const { incident } = await store.observe(obs('m-1', 0));
    const path = store.statePath(incident.incidentId);
    await writeFile(path, '{"incidentId": 12}');
    // The store keeps what it wrote in memory (it is the only writer): the next run reads the file.
    const { store: restarted } = await newStore(dir);
    const err = (await restarted.get(incident.incidentId).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('CorruptState');
    expect(err.message).toContain(path);
    await expect(restarted.observe(obs('m-2', 1))).rejects.toMatchObject({ code: 'CorruptState' });
  });

  it('gathers the writes of concurrent repeats of one incident: every event kept, the count exact, on disk for the next run', async () => {
    const { dir, store } = await newStore();
    await store.observe(obs('m-0', 0));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.observe(obs(`m-${i + 1}`, 1 + (i % 50)))));
    expect(results.every((r) => r.outcome === 'repeat')).toBe(true);
    expect(results.map((r) => (r.outcome === 'repeat' ? r.count : 0)).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 2));
    const { store: restarted } = await newStore(dir);
    const incidentId = results[0]!.incident.incidentId;
    expect((await restarted.get(incidentId))?.count).toBe(201);
    expect(await restarted.readEvents(incidentId)).toHaveLength(201);
    expect(await restarted.observe(obs('m-7', 3))).toMatchObject({ outcome: 'duplicate-delivery' });
  });

  it("writes a repeat's event line at once and its state later: a store started before that write brings the state up to the events file", async () => {
    const dir = await tempDir();
    const store = new FileIncidentStore({ dir, fsync: false, now: () => at(0), stateFlushMs: 3_600_000 });
    const { incident } = await store.observe(obs('m-1', 0));
    await store.observe(obs('m-2', 40));
    await store.observe(obs('m-3', 20));
    const onDisk = JSON.parse(await readFile(store.statePath(incident.incidentId), 'utf8')) as { count: number };
    expect(onDisk.count).toBe(1);

    // As after a crash: the next process reads the state and its events file.
    const { store: restarted } = await newStore(dir);
    expect(await restarted.get(incident.incidentId)).toMatchObject({ count: 3, firstSeen: at(0).toISOString(), lastSeen: at(40).toISOString() });
    expect(await restarted.observe(obs('m-4', 50))).toMatchObject({ outcome: 'repeat', count: 4 });
    expect(await restarted.observe(obs('m-2', 40))).toMatchObject({ outcome: 'duplicate-delivery' });
  });

  it("flush writes the states repeats changed; a status change writes the repeats' count with it", async () => {
    const dir = await tempDir();
    const store = new FileIncidentStore({ dir, fsync: false, now: () => at(0), stateFlushMs: 3_600_000 });
    const { incident: a } = await store.observe(obs('a-1', 0));
    const { incident: b } = await store.observe(obs('b-1', 0, { dedupeKey: 'falco:other' }));
    await store.observe(obs('a-2', 5));
    await store.observe(obs('b-2', 5, { dedupeKey: 'falco:other' }));
    const stored = async (id: string) => JSON.parse(await readFile(store.statePath(id), 'utf8')) as { count: number; status: string };

    await store.setStatus(a.incidentId, 'awaiting-approval');
    expect(await stored(a.incidentId)).toMatchObject({ count: 2, status: 'awaiting-approval' });
    expect((await stored(b.incidentId)).count).toBe(1);
    await store.flush();
    expect((await stored(b.incidentId)).count).toBe(2);
  });

  it('keeps an incident\'s events file open while repeats arrive, and closes it at close()', async () => {
    const { store } = await newStore();
    const first = await store.observe(obs('m-0', 0));
    for (let i = 1; i <= 20; i++) await store.observe(obs(`m-${i}`, i));
    const path = store.eventsPath(first.incident.incidentId);
    expect(await descriptorsOn(path)).toBe(1);
    await store.close();
    expect(await descriptorsOn(path)).toBe(0);
    expect((await store.readEvents(first.incident.incidentId)).map((e) => e.messageId)).toEqual(Array.from({ length: 21 }, (_, i) => `m-${i}`));
  });

  it('writes the states repeats changed by itself after stateFlushMs', async () => {
    const dir = await tempDir();
    const store = new FileIncidentStore({ dir, fsync: false, now: () => at(0), stateFlushMs: 20 });
    const { incident } = await store.observe(obs('m-1', 0));
    await store.observe(obs('m-2', 1));
    const deadline = Date.now() + 5000;
    let count = 1;
    while (count !== 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      count = (JSON.parse(await readFile(store.statePath(incident.incidentId), 'utf8')) as { count: number }).count;
    }
    expect(count).toBe(2);
  });

  it('a corrupt event line is an error naming file and line; a torn last line is ignored and the next event starts clean', async () => {
    const { dir, store } = await newStore();
    const { incident } = await store.observe(obs('m-1', 0));
    const events = store.eventsPath(incident.incidentId);
    await appendFile(events, '{"at":"2026-03-01T10:00:01.000Z","messageId":"m-torn","ev');

    const { store: restarted } = await newStore(dir);
    expect(await restarted.observe(obs('m-2', 2))).toMatchObject({ outcome: 'repeat', count: 2 });
    expect((await restarted.readEvents(incident.incidentId)).map((e) => e.messageId)).toEqual(['m-1', 'm-2']);
    expect(await readFile(`${events}.torn`, 'utf8')).toBe('{"at":"2026-03-01T10:00:01.000Z","messageId":"m-torn","ev\n');

    await appendFile(events, 'not json\n');
    const err = (await restarted.readEvents(incident.incidentId).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('CorruptState');
    expect(err.message).toContain(`${events}:3`);
  });

  it('writes its files under the directory, mode 0600', async () => {
    const { dir, store } = await newStore();
    const { incident } = await store.observe(obs('m-1', 0));
    expect((await readdir(dir)).sort()).toEqual(['incidents', 'keys']);
    expect((await stat(store.statePath(incident.incidentId))).mode & 0o777).toBe(0o600);
    expect((await stat(store.eventsPath(incident.incidentId))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(store.statePath(incident.incidentId), 'utf8'))).toEqual(incident);
  });
});
