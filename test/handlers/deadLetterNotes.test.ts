/**
 * What the intake records about failing messages: the reason a handler logs when it catches its
 * own failure, recorded while the message waits for its retry, and deleted once a redelivery is
 * handled. The bot runs against moto and the fake Discord (test/helpers/botHarness.ts).
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { captureFailureReason } from '../../src/handlers/deadLetterNotes.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import { waitFor } from '../support/aws.js';
import { createBotHarness, parseLogs } from '../helpers/botHarness.js';
import { guardDutyEvent } from '../helpers/events.js';

describe('captureFailureReason', () => {
  it("remembers the last error's reason logged through the logger or any child of it, and still logs everything", () => {
    const lines: string[] = [];
    const logger = createLogger({ format: 'json', level: 'debug', stream: new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) }) });
    const capture = captureFailureReason(logger);
    expect(capture.reason()).toBeUndefined();
    capture.logger.warn('not an error', { reason: 'ignored: a warning' });
    capture.logger.child({ incidentId: 'inc-1' }).child({ action: 'isolate-pod' }).error('step failed; will retry', { reason: 'first' });
    capture.logger.error('no reason here');
    expect(capture.reason()).toBe('first');
    capture.logger.child({ a: 1 }).error('again', { reason: 'second' });
    expect(capture.reason()).toBe('second');
    // Another capture on the same logger is its own.
    expect(captureFailureReason(logger).reason()).toBeUndefined();
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.map((l) => l.message)).toEqual(['not an error', 'step failed; will retry', 'no reason here', 'again']);
    expect(logged[1]).toMatchObject({ incidentId: 'inc-1', action: 'isolate-pod', reason: 'first', level: 'error' });
  });
});

describe('dead-letter records of the bot', { timeout: 180_000 }, () => {
  it('records why a message failed while it waits for its retry, and deletes the record once a redelivery is handled', async () => {
    const h = await createBotHarness({ maxReceiveCount: 5 });
    try {
      await h.start();
      const triaged = triageEvent(guardDutyEvent({ resourceType: 'S3Bucket', id: 'dead-letter-notes' }), loadPlaybookConfig(undefined));
      if (!triaged.ok) throw new Error(triaged.error);
      // The first delivery fails: the incident it names cannot be read back (its state file is
      // corrupt); the alert handler catches it and asks for a retry. The file is then removed, so
      // the redelivery goes through. (A Discord failure no longer fails a delivery: the alert is
      // recorded in the outbox and sent when Discord is back.)
      const incidentId = `inc-notes-${Date.now().toString(36)}`;
      const corrupt = join(h.dataDir, 'incidents', 'incidents', `${incidentId}.json`);
      await mkdir(dirname(corrupt), { recursive: true });
      await writeFile(corrupt, '{"torn": ');
      const messageId = await h.sendControl({ kind: 'notify', incident: { incidentId, triage: triaged.result } });
      const file = join(h.dataDir, 'dead-letters', `${messageId}.json`);

      const recorded = await waitFor(async () => JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>, { timeoutMs: 30_000, what: 'the failure record' });
      const logged = parseLogs(h.logs).find((l) => l.message === 'alert failed; will retry');
      expect(recorded).toEqual({ messageId, queue: 'control', kind: 'notify', receiveCount: 1, reason: logged?.reason, at: expect.any(String) });
      expect(String(recorded.reason)).toMatch(/^Corrupt state at /);
      await rm(corrupt);

      // The redelivery (after the visibility timeout) posts the alert; the record goes.
      await h.waitForChannelMessage(() => true, 60_000);
      await waitFor(async () => readFile(file).then(() => undefined, (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? true : undefined)), { timeoutMs: 30_000, what: 'the record to go' });
      // The intake deletes the message once the handler has returned (the record goes just before).
      await waitFor(async () => ((await h.queueDepth(h.controlQueueUrl)) === 0 ? true : undefined), { timeoutMs: 10_000, what: 'the handled message to be deleted' });
    } finally {
      await h.close();
    }
  });
});
