import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAuditLog } from '../../src/stores/fileAuditLog.js';
import { REDACTED } from '../../src/logger.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sentinel-audit-'));
  dirs.push(dir);
  return dir;
}

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);
/** moto-style (UUID) and real-style (long opaque) task tokens. */
const UUID_TOKEN = '0f6c1f5e-2d5b-4a57-9d1e-8a1b2c3d4e5f';
const LONG_TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAA${'x7Kq9'.repeat(40)}`;

describe('FileAuditLog', () => {
  it('appends one JSON line per entry and reads them back, oldest first, by filter', async () => {
    const dir = await tempDir();
    const log = new FileAuditLog({ dir });
    await log.append({ at: at(1), who: 'sentinel', what: 'approval-requested', incidentId: 'inc-1', approvalId: 'apv-1', outcome: 'ok', detail: { action: 'isolate-pod' } });
    await log.append({ at: at(2), who: 'alice', what: 'decide', incidentId: 'inc-1', approvalId: 'apv-1', outcome: 'pending-second' });
    await log.append({ at: at(3).toISOString(), who: 'bob', what: 'decide', incidentId: 'inc-1', approvalId: 'apv-1', outcome: 'decided', detail: 'block' });
    await log.append({ at: at(4), who: 'carol', what: 'command', incidentId: 'inc-2', outcome: 'denied' });

    const text = await readFile(join(dir, 'audit.ndjson'), 'utf8');
    expect(text.split('\n')).toHaveLength(5);
    expect(JSON.parse(text.split('\n')[0]!)).toEqual({
      at: at(1).toISOString(),
      who: 'sentinel',
      what: 'approval-requested',
      incidentId: 'inc-1',
      approvalId: 'apv-1',
      outcome: 'ok',
      detail: { action: 'isolate-pod' },
    });

    const reader = new FileAuditLog({ dir });
    expect((await reader.readAudit()).map((e) => e.who)).toEqual(['sentinel', 'alice', 'bob', 'carol']);
    expect((await reader.readAudit({ incidentId: 'inc-1', what: 'decide' })).map((e) => e.outcome)).toEqual(['pending-second', 'decided']);
    expect((await reader.readAudit({ approvalId: 'apv-1', outcome: 'decided' })).map((e) => e.who)).toEqual(['bob']);
    expect((await reader.readAudit({ since: at(2), until: at(4) })).map((e) => e.who)).toEqual(['alice', 'bob']);
    expect((await reader.readAudit({ limit: 2 })).map((e) => e.who)).toEqual(['bob', 'carol']);
    expect(await reader.readAudit({ who: 'nobody' })).toEqual([]);
    expect((await stat(reader.path)).mode & 0o777).toBe(0o600);
  });

  it('reads an empty log when there is no file yet', async () => {
    expect(await new FileAuditLog({ dir: join(await tempDir(), 'missing') }).readAudit()).toEqual([]);
  });

  it('never stores a task token: by key, by shape, as token=… in text, or as a known secret', async () => {
    const dir = await tempDir();
    const log = new FileAuditLog({ dir, secrets: ['discord-bot-token-value-123'] });
    const stored = await log.append({
      at: at(1),
      who: 'sentinel',
      what: 'send-task-success',
      approvalId: 'apv-1',
      outcome: 'failed',
      detail: {
        taskToken: UUID_TOKEN,
        nested: { task_token: UUID_TOKEN, note: `SendTaskSuccess failed for taskToken=${UUID_TOKEN}` },
        error: `InvalidToken: ${LONG_TOKEN}`,
        json: `{"taskToken":"${UUID_TOKEN}"}`,
        discord: 'header was Bot discord-bot-token-value-123',
        kept: 'isolate-pod web/web-1',
      },
    });

    const raw = await readFile(join(dir, 'audit.ndjson'), 'utf8');
    expect(raw).not.toContain(UUID_TOKEN);
    expect(raw).not.toContain(LONG_TOKEN.slice(0, 60));
    expect(raw).not.toContain('discord-bot-token-value-123');
    expect(stored.detail).toMatchObject({
      taskToken: REDACTED,
      nested: { task_token: REDACTED, note: `SendTaskSuccess failed for taskToken=${REDACTED}` },
      error: `InvalidToken: ${REDACTED}`,
      kept: 'isolate-pod web/web-1',
    });
    expect((await log.readAudit())[0]).toEqual(stored);
  });

  it('bounds a huge detail to a preview with its size', async () => {
    const log = new FileAuditLog({ dir: await tempDir() });
    const stored = await log.append({ at: at(1), who: 'sentinel', what: 'x', outcome: 'ok', detail: { blob: 'z '.repeat(100_000) } });
    expect(stored.detail).toMatchObject({ truncated: true, bytes: expect.any(Number) as number });
  });

  it('keeps every line intact and in call order under 100 concurrent appends', async () => {
    const dir = await tempDir();
    const log = new FileAuditLog({ dir, fsync: true });
    await Promise.all(Array.from({ length: 100 }, (_, i) => log.append({ at: at(i), who: `user-${i}`, what: 'decide', outcome: 'ok', detail: { i } })));
    const entries = await log.readAudit();
    expect(entries.map((e) => (e.detail as { i: number }).i)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('refuses an invalid entry without writing it', async () => {
    const log = new FileAuditLog({ dir: await tempDir() });
    await expect(log.append({ at: 'not a time', who: 'x', what: 'y', outcome: 'ok' })).rejects.toMatchObject({ name: 'ValidationError' });
    await expect(log.append({ at: at(1), who: '', what: 'y', outcome: 'ok' })).rejects.toMatchObject({ name: 'ValidationError' });
    expect(await log.readAudit()).toEqual([]);
  });

  it('a corrupt line is an error naming file and line; a torn last line is set aside and the log goes on', async () => {
    const dir = await tempDir();
    const log = new FileAuditLog({ dir });
    await log.append({ at: at(1), who: 'a', what: 'w', outcome: 'ok' });
    await appendFile(log.path, '{"at":"2026-03-01T10:00:02.000Z","who":"b"');

    const after = new FileAuditLog({ dir });
    expect((await after.readAudit()).map((e) => e.who)).toEqual(['a']);
    await after.append({ at: at(3), who: 'c', what: 'w', outcome: 'ok' });
    expect((await after.readAudit()).map((e) => e.who)).toEqual(['a', 'c']);
    expect(await readFile(`${log.path}.torn`, 'utf8')).toBe('{"at":"2026-03-01T10:00:02.000Z","who":"b"\n');

    await appendFile(log.path, '{"at":"2026-03-01T10:00:04.000Z"}\n');
    const err = (await after.readAudit().catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('CorruptState');
    expect(err.message).toContain(`${log.path}:3`);
  });

  it('sets aside a torn line longer than one read chunk, keeping every complete line', async () => {
    const dir = await tempDir();
    const log = new FileAuditLog({ dir });
    for (let i = 0; i < 3; i += 1) await log.append({ at: at(i), who: `u-${i}`, what: 'w', outcome: 'ok', detail: { pad: 'p'.repeat(40_000) } });
    const fragment = `{"at":"2026-03-01T10:00:09.000Z","who":"${'q'.repeat(150_000)}`;
    await appendFile(log.path, fragment);

    const after = new FileAuditLog({ dir });
    await after.append({ at: at(10), who: 'last', what: 'w', outcome: 'ok' });
    expect((await after.readAudit()).map((e) => e.who)).toEqual(['u-0', 'u-1', 'u-2', 'last']);
    expect(await readFile(`${log.path}.torn`, 'utf8')).toBe(`${fragment}\n`);
  });
});
