import { randomUUID } from 'node:crypto';
import { describeError } from '../errors.js';
import { incidentSlotKey, shortId } from './ports/outboxSlot.js';
import type { Logger } from '../logger.js';
import { renderCommandResult } from './render/confirmMessage.js';
import type { IncidentState } from '../stores/incidentStore.js';
import type { ActionResult } from '../pipeline/actions/types.js';
import { invokeAction, type FailedDetails } from '../pipeline/invokeAction.js';
import type { TriageResult } from '../pipeline/triage/types.js';
import type { HandlerContext } from './context.js';

/** What became of a repeat's request to contain its file again. */
export type RecontainOutcome =
  /** This call ran extraction and quarantine (and any run folded into it); `transient`: a step failed in a way worth a retry. */
  | { outcome: 'ran'; runs: number; transient: boolean }
  /** A run for the incident was under way: one more run after it covers this repeat. */
  | { outcome: 'folded' }
  /** Nothing to run: no pod or path, or an ambiguous path no person chose to block. */
  | { outcome: 'not-applicable'; reason: string };

interface Pending {
  again: boolean;
  triage: TriageResult;
}

/** The incident ids with a run under way, per incident store (one per bot). */
const underWay = new WeakMap<object, Map<string, Pending>>();

/** The file steps' input for the repeat's target, or why there is none. */
async function fileInput(ctx: HandlerContext, incident: IncidentState, triage: TriageResult): Promise<{ input: Record<string, unknown> } | { reason: string }> {
  const t = triage.target;
  if (!t.namespace || !t.pod) return { reason: 'the event names no pod' };
  const pod = { namespace: t.namespace, pod: t.pod, ...(t.container ? { container: t.container } : {}) };
  const a = triage.artifact;
  if (a?.path) return { input: { ...pod, path: a.path } };
  if (!a?.candidates?.length) return { reason: 'the event names no file' };
  // Several readings: only what a person already chose to block is contained again without asking.
  const records = await ctx.approvals.listForIncident(incident.incidentId);
  const blocked = records.some((r) => r.proposedAction.action === 'quarantine-file' && r.status === 'decided' && r.decision?.decision === 'block');
  if (!blocked) return { reason: 'the file path has several readings and no responder has chosen Block for them' };
  return { input: { ...pod, candidates: [...a.candidates] } };
}

const isTransient = (r: ActionResult<object>) => r.status === 'failed' && (r.details as Partial<FailedDetails>).final === false;

/** One run: extract-file, then quarantine-file with the sha256 extraction found; audited, and shown when it changed anything. */
async function runOnce(ctx: HandlerContext, incident: IncidentState, triage: TriageResult, input: Record<string, unknown>, log: Logger): Promise<boolean> {
  const extractDef = ctx.actions['extract-file'];
  const quarantineDef = ctx.actions['quarantine-file'];
  if (!extractDef || !quarantineDef) {
    log.error('cannot contain the file again: extract-file or quarantine-file is not in the action registry');
    return false;
  }
  const dryRun = ctx.bot.mode === 'observe' || triage.observe === true;
  const options = { actor: 'sentinel:repeat', incidentId: incident.incidentId, reason: 'a repeat of a file-artifact incident: the file may have been replaced', ...(dryRun ? { dryRun } : {}) };
  const extracted = await invokeAction(extractDef, input, options, ctx.actionDeps);
  const sha256 = (extracted.details as { sha256?: unknown }).sha256;
  const quarantineInput = extracted.status === 'succeeded' && typeof sha256 === 'string' && typeof input.path === 'string' ? { ...input, sha256 } : input;
  const quarantined = await invokeAction(quarantineDef, quarantineInput, options, ctx.actionDeps);

  const stored = extracted.status === 'succeeded' && (extracted.details as { alreadyStored?: unknown }).alreadyStored !== true;
  // A dry run changes nothing: it is shown when its plan would (a file is there to move).
  const plan = quarantined.details as { dryRun?: unknown; to?: unknown; found?: unknown; quarantined?: unknown };
  const wouldMove = dryRun && plan.dryRun === true && (typeof plan.to === 'string' ? plan.found !== false : Array.isArray(plan.quarantined) && plan.quarantined.length > 0);
  const changed = quarantined.status === 'succeeded' || stored || wouldMove;
  const failed = extracted.status === 'failed' || quarantined.status === 'failed';
  log.info('repeat of a file incident: contained again', { extract: extracted.status, quarantine: quarantined.status, dryRun });
  await ctx.audit.append({
    at: ctx.now(),
    who: 'sentinel',
    what: 'file-recontained',
    incidentId: incident.incidentId,
    outcome: failed ? 'failed' : quarantined.status,
    detail: { input, dryRun, extract: { status: extracted.status, summary: extracted.summary }, quarantine: { status: quarantined.status, summary: quarantined.summary } },
  });
  if (changed || failed) {
    const combined: ActionResult<object> = {
      status: failed ? 'failed' : quarantined.status,
      summary: `extract-file: ${extracted.summary}\nquarantine-file: ${quarantined.summary}`,
      details: { extractFile: extracted.details, quarantineFile: quarantined.details },
    };
    const title = dryRun ? `Repeat of ${incident.incidentId}: the file would be contained again` : `Repeat of ${incident.incidentId}: the file was checked and contained again`;
    const payload = renderCommandResult(combined, title, { observe: dryRun });
    // In the incident message's thread (the digest's when the incident went into one), posted by the outbox.
    const key = incidentSlotKey(incident.incidentId);
    const place = ctx.outbox.has(key)
      ? { threadOf: key, threadName: `${incident.incidentId} ${triage.rule}`.slice(0, 100), whenFolded: 'digest-thread' as const }
      : { channelId: ctx.channelId };
    try {
      await ctx.outbox.post(`recontain-${shortId(incident.incidentId, randomUUID())}`, payload, place, 'report');
    } catch (err) {
      log.warn('could not record the repeat containment for Discord (it is in the audit log)', { reason: describeError(err) });
    }
  }
  const transient = [extracted, quarantined].find(isTransient);
  // The message is left for a retry: say why, so the dead-letter record (sentinel dlq list) has it.
  if (transient) log.error('containing a file repeat again failed for now; will retry', { reason: transient.summary });
  return transient !== undefined;
}

/**
 * A repeat of a file-artifact incident inside its storm window: the file at that path may have
 * been replaced (a harmless upload first, the real one after it was quarantined), and the event
 * cannot say what it holds now. So the bot runs extract-file and quarantine-file for it again
 * (a dry run in observe mode): the same content is recognized (extraction is keyed by sha256 and
 * finds it stored; quarantine finds the path empty or its copy already there), new content is
 * stored and quarantined. At most one run per incident is under way; repeats that arrive during
 * it are folded into one more run after it, which starts at least SENTINEL_RECONTAIN_INTERVAL_SECONDS
 * after the previous one began, so a storm of repeats cannot flood the pod (nor the bot). An
 * ambiguous path is contained again only once a responder chose Block for its candidates.
 */
export async function recontainFile(ctx: HandlerContext, incident: IncidentState, triage: TriageResult, log: Logger): Promise<RecontainOutcome> {
  const prepared = await fileInput(ctx, incident, triage);
  if ('reason' in prepared) {
    log.info('repeat of a file incident: not contained again', { reason: prepared.reason });
    return { outcome: 'not-applicable', reason: prepared.reason };
  }
  let runs = underWay.get(ctx.incidents);
  if (!runs) underWay.set(ctx.incidents, (runs = new Map()));
  const pending = runs.get(incident.incidentId);
  if (pending) {
    pending.again = true;
    pending.triage = triage;
    return { outcome: 'folded' };
  }
  const mine: Pending = { again: false, triage };
  runs.set(incident.incidentId, mine);
  let count = 0;
  let transient = false;
  let startedAt = 0;
  try {
    do {
      if (count > 0 && !(await spaced(startedAt + ctx.bot.recontainIntervalMs, ctx.stopping))) {
        // Stopping: the repeats folded into this run are covered by this message, left for a redelivery.
        log.info('stopping before the next run for folded repeats; the message is left for a redelivery');
        return { outcome: 'ran', runs: count, transient: true };
      }
      mine.again = false;
      startedAt = performance.now();
      count += 1;
      const input = count === 1 ? prepared : await fileInput(ctx, incident, mine.triage);
      if ('input' in input) transient = (await runOnce(ctx, incident, mine.triage, input.input, log)) || transient;
    } while (mine.again);
  } finally {
    runs.delete(incident.incidentId);
  }
  return { outcome: 'ran', runs: count, transient };
}

/** Waits until `at` (performance.now() time); false if the bot began to stop first. */
async function spaced(at: number, stopping: AbortSignal | undefined): Promise<boolean> {
  const wait = at - performance.now();
  if (stopping?.aborted) return false;
  if (wait <= 0) return true;
  return new Promise<boolean>((resolve) => {
    const onStop = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      stopping?.removeEventListener('abort', onStop);
      resolve(true);
    }, wait);
    stopping?.addEventListener('abort', onStop, { once: true });
  });
}
