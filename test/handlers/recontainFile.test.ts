/**
 * A storm of repeats of one file-artifact incident: the runs that contain its file again are
 * spaced (SENTINEL_RECONTAIN_INTERVAL_SECONDS) and folded, and a stop between two runs leaves the
 * repeat's message for a redelivery. Real handler, file stores and triage (intakeContext); the
 * extract-file and quarantine-file actions are stand-ins that record when they ran (their work
 * against a pod is tested in test/bot/fileContainment.test.ts), since what is tested is when runs
 * happen, not what one does.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { recontainFile } from '../../src/handlers/recontainFile.js';
import { createActionRegistry } from '../../src/pipeline/actions/registry.js';
import type { AnyActionDefinition } from '../../src/pipeline/actions/types.js';
import { loadPlaybookConfig } from '../../src/pipeline/triage/playbookConfig.js';
import { triageEvent } from '../../src/pipeline/triage/triageEvent.js';
import type { HandlerContext } from '../../src/handlers/context.js';
import { createIntakeContext, DISCORD_NOT_REACHED, type IntakeContext } from '../helpers/intakeContext.js';
import { fluentBitLine, kv } from '../helpers/events.js';

let h: IntakeContext | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function fileTriage() {
  const line = fluentBitLine(
    `ARTIFACT_WRITE_SUSP_EXT ${kv({ reason: 'upload_write_suspicious_ext', artifact_path: '/var/www/html/uploads/x.php', proc: 'apache2', cmdline: 'apache2 -DFOREGROUND', user: 'www-data', container: 'web', container_id: '3f2a9c1b7d4e', pod: 'web-7f9c', ns: 'shop', node: 'ip-10-0-1-23' })}`,
    { host: 'ip-10-0-1-23', priority: 'Warning' },
  );
  const outcome = triageEvent(line, loadPlaybookConfig(undefined));
  if (!outcome.ok) throw new Error(outcome.error);
  expect(outcome.result.route).toBe('file-artifact');
  return { event: line, triage: outcome.result };
}

/** Stand-ins for the two file steps: each run's start is recorded; a run takes `runMs`. */
function fileSteps(starts: number[], runMs: number) {
  const step = (id: string, result: () => object): AnyActionDefinition =>
    ({
      id,
      description: `a stand-in for ${id}`,
      permissions: [],
      input: z.looseObject({}),
      run: async () => {
        if (id === 'extract-file') starts.push(performance.now());
        await new Promise((resolve) => setTimeout(resolve, runMs / 2));
        return result();
      },
    }) as unknown as AnyActionDefinition;
  return createActionRegistry({
    'extract-file': async () => step('extract-file', () => ({ status: 'succeeded', summary: 'already stored', details: { sha256: 'a'.repeat(64), alreadyStored: true } })),
    'quarantine-file': async () => step('quarantine-file', () => ({ status: 'skipped', summary: 'nothing at the path', details: { found: false } })),
  });
}

async function setUp(intervalMs: number, runMs: number, stopping?: AbortSignal) {
  h = await createIntakeContext({ port: DISCORD_NOT_REACHED });
  const starts: number[] = [];
  const ctx: HandlerContext = { ...h.ctx, actions: fileSteps(starts, runMs), bot: { ...h.ctx.bot, recontainIntervalMs: intervalMs }, ...(stopping ? { stopping } : {}) };
  const { event, triage } = fileTriage();
  const { incident } = await ctx.incidents.observe({ dedupeKey: triage.dedupeKey, messageId: 'sqs-first', at: new Date(), event, windowMs: 600_000 });
  return { ctx, triage, incident, starts, log: ctx.logger };
}

describe('containing a file again for a storm of repeats', () => {
  it('folds the repeats that arrive during a run into the next one, which starts the interval after the last began', async () => {
    const { ctx, triage, incident, starts, log } = await setUp(800, 100);
    const holder = recontainFile(ctx, incident, triage, log);
    // Repeats every 50 ms for 2 s: each is folded while a run is under way or waits for its turn.
    const folded: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      folded.push((await recontainFile(ctx, incident, triage, log)).outcome);
    }
    const lastRepeat = performance.now();
    const result = await holder;
    expect(folded.every((o) => o === 'folded')).toBe(true);
    expect(result).toEqual({ outcome: 'ran', runs: starts.length, transient: false });
    // Back to back (the interval 0) would be about 20 runs of 100 ms in 2 s; spaced, one per
    // interval while repeats come, and one after the last of them.
    expect(starts.length).toBeGreaterThanOrEqual(3);
    expect(starts.length).toBeLessThanOrEqual(Math.floor((lastRepeat - starts[0]!) / 800) + 2);
    // The stand-in notes its start after invokeAction has loaded and validated (a few ms, more on a
    // busy machine and for the first run): the 800 ms between runs' starts, seen from the action.
    for (let i = 1; i < starts.length; i += 1) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(750);
    const audited = await ctx.audit.readAudit({ incidentId: incident.incidentId, what: 'file-recontained' });
    expect(audited).toHaveLength(starts.length);
  });

  it('runs back to back when the interval is 0', async () => {
    const { ctx, triage, incident, starts, log } = await setUp(0, 100);
    const holder = recontainFile(ctx, incident, triage, log);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await recontainFile(ctx, incident, triage, log)).outcome).toBe('folded');
    expect(await holder).toEqual({ outcome: 'ran', runs: 2, transient: false });
    expect(starts[1]! - starts[0]!).toBeLessThan(400);
  });

  it('leaves the message for a redelivery when the bot stops while folded repeats wait for their run', async () => {
    const stop = new AbortController();
    const { ctx, triage, incident, starts, log } = await setUp(60_000, 100, stop.signal);
    const holder = recontainFile(ctx, incident, triage, log);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await recontainFile(ctx, incident, triage, log)).outcome).toBe('folded');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stoppedAt = performance.now();
    stop.abort();
    const result = await holder;
    expect(performance.now() - stoppedAt).toBeLessThan(1000);
    // transient: the handler answers 'retry', so the message comes back after the restart and runs then.
    expect(result).toEqual({ outcome: 'ran', runs: 1, transient: true });
    expect(starts).toHaveLength(1);
    // The incident is not left marked as having a run under way: a later repeat is not folded into a run that never comes.
    expect((await recontainFile(ctx, incident, triage, log)).outcome).toBe('ran');
  });
});
