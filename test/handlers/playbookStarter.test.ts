/**
 * The playbook starter on its own: file stores in a temporary directory, an in-memory engine that
 * records the starts it is asked for (a real Step Functions start is covered end to end by the
 * bot tests; what is tested here is what the starter does around it: resume, retry, give up).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { createPlaybookStarter } from '../../src/handlers/playbookStarter.js';
import type { PlaybookEngine } from '../../src/handlers/ports/playbookEngine.js';
import { createLogger } from '../../src/logger.js';
import { FileAuditLog } from '../../src/stores/fileAuditLog.js';
import { FileIncidentStore } from '../../src/stores/fileIncidentStore.js';
import { FilePendingStartStore } from '../../src/stores/pendingStartStore.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function setUp(start: PlaybookEngine['start']) {
  dir = await mkdtemp(join(tmpdir(), 'sentinel-starter-'));
  const lines: { message: string; [k: string]: unknown }[] = [];
  const logger = createLogger({
    format: 'json',
    level: 'debug',
    stream: new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l) as { message: string });
        done();
      },
    }),
  });
  const incidents = new FileIncidentStore({ dir: join(dir, 'incidents'), fsync: false });
  const audit = new FileAuditLog({ dir });
  const touched: string[] = [];
  const engine: PlaybookEngine = { start, heartbeat: async () => undefined, taskSucceeded: async () => undefined, taskFailed: async () => undefined };
  const make = () =>
    createPlaybookStarter({ store: new FilePendingStartStore({ dir: join(dir!, 'starts'), fsync: false }), engine, incidents, audit, outbox: { touchIncident: (id) => touched.push(id) }, logger, retryMs: 20 });
  const { incident } = await incidents.observe({ dedupeKey: `k-${Date.now()}`, messageId: 'm-1', at: new Date(), event: { rule: 'x' }, windowMs: 60_000 });
  const request = { incidentId: incident.incidentId, route: 'record', executionName: `exec-${incident.incidentId}`, input: { incidentId: incident.incidentId } };
  return { dir, lines, incidents, audit, touched, make, incident, request };
}

describe('playbook starter', () => {
  it('makes a start recorded before a restart, once, and deletes its record', async () => {
    const made: string[] = [];
    let hold = true;
    const t = await setUp(async (_route, name) => {
      if (hold) return new Promise(() => undefined); // the first run "dies" with the start under way
      made.push(name);
      return { executionArn: `arn:${name}`, started: true };
    });
    const first = t.make();
    await first.request(t.request);
    expect(await readdir(join(t.dir, 'starts'))).toEqual([`${t.incident.incidentId}.json`]);

    // The next run: the record is all that is left of the first.
    hold = false;
    const second = t.make();
    expect(await second.start()).toBe(1);
    await second.idle();
    expect(made).toEqual([t.request.executionName]);
    expect((await t.incidents.get(t.incident.incidentId))?.executionName).toBe(t.request.executionName);
    expect(await readdir(join(t.dir, 'starts'))).toEqual([]);
    expect(t.lines.some((l) => l.message === 'resuming playbook starts recorded before a restart')).toBe(true);
    await second.stop();
  });

  it('a request for an incident already pending is not recorded twice', async () => {
    const made: string[] = [];
    const t = await setUp(async (_route, name) => {
      made.push(name);
      return { executionArn: `arn:${name}`, started: true };
    });
    const s = t.make();
    await Promise.all([s.request(t.request), s.request(t.request)]);
    await s.idle();
    expect(made).toEqual([t.request.executionName]);
    await s.stop();
  });

  it('retries a start that fails transiently until it is made', async () => {
    let calls = 0;
    const t = await setUp(async (_route, name) => {
      calls++;
      if (calls < 3) throw Object.assign(new Error('Rate exceeded'), { code: 'ThrottlingException' });
      return { executionArn: `arn:${name}`, started: true };
    });
    const s = t.make();
    await s.request(t.request);
    await s.idle();
    expect(calls).toBe(3);
    expect(t.lines.filter((l) => l.message === 'starting the playbook failed; will retry').map((l) => l.attempt)).toEqual([1, 2]);
    expect((await t.incidents.get(t.incident.incidentId))?.executionName).toBe(t.request.executionName);
    await s.stop();
  });

  it('a start that cannot succeed marks the incident failed, audits and shows it, and is not retried', async () => {
    let calls = 0;
    const t = await setUp(async () => {
      calls++;
      throw new ConfigError('no state machine is configured for route record', { code: 'NoStateMachine' });
    });
    const s = t.make();
    await s.request(t.request);
    await s.idle();
    expect(calls).toBe(1);
    expect((await t.incidents.get(t.incident.incidentId))?.status).toBe('failed');
    expect(t.touched).toEqual([t.incident.incidentId]);
    const audited = await t.audit.readAudit({ what: 'playbook-start-failed' });
    expect(audited).toHaveLength(1);
    expect(audited[0]?.incidentId).toBe(t.incident.incidentId);
    expect(await readdir(join(t.dir, 'starts'))).toEqual([]);
    await s.stop();
  });

  it('a stop leaves the starts not yet made recorded for the next run', async () => {
    const t = await setUp(async () => {
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    });
    const s = t.make();
    await s.request(t.request);
    await new Promise((r) => setTimeout(r, 50));
    await s.stop();
    expect(await readdir(join(t.dir, 'starts'))).toEqual([`${t.incident.incidentId}.json`]);
  });
  it('a start recorded for an incident that is gone is dropped after its one try, not retried forever', async () => {
    const made: string[] = [];
    const t = await setUp(async (_route, name) => {
      made.push(name);
      return { executionArn: `arn:${name}`, started: true };
    });
    const s = t.make();
    await s.request({ ...t.request, incidentId: 'inc-00000000000000000gone', executionName: 'exec-gone' });
    await s.idle();
    expect(made).toEqual(['exec-gone']);
    expect(await readdir(join(t.dir, 'starts'))).toEqual([]);
    expect((await t.audit.readAudit({ what: 'playbook-start-failed' })).map((e) => e.incidentId)).toEqual(['inc-00000000000000000gone']);
    await s.stop();
  });
});
