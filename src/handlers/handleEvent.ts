import { buildPlaybookInput } from '../pipeline/incident/playbookState.js';
import { triageEvent } from '../pipeline/triage/triageEvent.js';
import type { TriageResult } from '../pipeline/triage/types.js';
import { incidentSlotKey, type IncidentMessageView } from './ports/outboxSlot.js';
import { isTerminalStatus, type IncidentState } from '../stores/incidentStore.js';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { aggregationKey } from './aggregationKey.js';
import type { HandlerContext, HandlerOutcome } from './context.js';
import { executionNameFor } from './executionName.js';
import { handleTestEvent } from './handleTestEvent.js';
import { recontainFile } from './recontainFile.js';

export interface EventMeta {
  messageId: string;
}

/**
 * The first handlings in flight in this process, by incident id, per bot (keyed by its incident
 * store: each message's context is a copy, the store is the bot's): a repeat that arrives while
 * its incident's first event still waits on recording its start or on the outbox waits for that
 * handling instead of taking it for one that was cut short.
 */
const firstHandlings = new WeakMap<object, Map<string, Promise<unknown>>>();

/** Runs the first handling of an incident, marked as in flight for repeats handled meanwhile. */
async function asFirstHandling<T>(ctx: HandlerContext, incidentId: string, run: () => Promise<T>): Promise<T> {
  let inFlight = firstHandlings.get(ctx.incidents);
  if (!inFlight) firstHandlings.set(ctx.incidents, (inFlight = new Map()));
  const running = run();
  const marked = inFlight;
  marked.set(incidentId, running);
  try {
    return await running;
  } finally {
    if (marked.get(incidentId) === running) marked.delete(incidentId);
  }
}

function eventTime(triage: TriageResult, fallback: Date): Date {
  const t = triage.time ? Date.parse(triage.time.replace(/(\.\d{3})\d+/, '$1').replace(/([+-]\d{2})(\d{2})$/, '$1:$2')) : Number.NaN;
  // An event stamped in the future (clock skew or forgery) counts as now.
  return Number.isFinite(t) && t <= fallback.getTime() + 60_000 ? new Date(t) : fallback;
}

/** The incident's message: the incident itself (its status and counter are rendered when sent), or a notify alert. */
function incidentView(incident: IncidentState, triage: TriageResult, executionName: string | undefined, alert: boolean, observe: boolean): IncidentMessageView {
  const t = triage as unknown as Record<string, unknown>;
  if (alert) return { kind: 'alert', incidentId: incident.incidentId, triage: t };
  return { kind: 'incident', incidentId: incident.incidentId, triage: t, observe: observe || triage.observe === true, ...(executionName ? { executionName } : {}) };
}

function forensicsSettings(ctx: HandlerContext) {
  const f = ctx.bot.forensics;
  return {
    ...(f.forensicInstanceId ? { forensicInstanceId: f.forensicInstanceId } : {}),
    ...(f.limeModuleBucket ? { limeModuleBucket: f.limeModuleBucket } : {}),
    limeModulePrefix: f.limeModulePrefix,
    memoryCaptureTimeoutSeconds: f.memoryCaptureTimeoutSeconds,
    webRoots: [...f.webRoots],
    createAmi: f.createAmi,
    stopInstance: ctx.actionDeps.settings.stopOnIsolate,
    cloudTrailLookbackMinutes: f.cloudTrailLookbackMinutes,
  };
}

/** A file repeat: extraction and quarantine again (recontainFile); a step that failed transiently leaves the message for a retry. */
async function containAgain(ctx: HandlerContext, incident: IncidentState, triage: TriageResult, log: Logger): Promise<HandlerOutcome> {
  try {
    const r = await recontainFile(ctx, incident, triage, log);
    return r.outcome === 'ran' && r.transient ? 'retry' : 'done';
  } catch (err) {
    log.error('containing a file repeat again failed; will retry', { reason: describeError(err) });
    return 'retry';
  }
}

/**
 * A raw Falco or GuardDuty event: triage it; the first of its kind in the storm
 * window starts the route's playbook (named from the dedupe key, so a
 * redelivery cannot start it twice) and records the incident message in the
 * outbox (posted by its sender: this never waits on Discord); repeats count, on
 * that message (re-rendered at a bounded rate), and a file-artifact repeat also
 * has its file extracted and quarantined again (recontainFile: the file may
 * have been replaced; at most one run per incident). With
 * SENTINEL_AGGREGATE_EVENTS=counters, events that differ only in numbers count
 * as repeats too (aggregationKey). Unreadable events are logged with the reason
 * and dropped (never retried forever).
 */
export async function handleEvent(event: unknown, meta: EventMeta, ctx: HandlerContext): Promise<HandlerOutcome> {
  const log = ctx.logger.child({ messageId: meta.messageId });
  const outcome = triageEvent(event, ctx.playbooks);
  if (!outcome.ok && outcome.skipped) {
    // One of Falco's own log lines (start-up, statistics) shipped with its alerts: not an event.
    log.info('not an event: skipped', { reason: outcome.error });
    ctx.metrics.messagesHandled.inc({ kind: 'event', outcome: 'skipped' });
    return 'done';
  }
  if (!outcome.ok) {
    log.warn('event refused', { reason: outcome.error });
    ctx.metrics.messagesHandled.inc({ kind: 'event', outcome: 'refused' });
    return 'done';
  }
  const triage = outcome.result;
  if (triage.route === 'ignore') {
    log.info('event ignored by triage', { rule: triage.rule, severity: triage.severity });
    ctx.metrics.messagesHandled.inc({ kind: 'event', outcome: 'ignored' });
    return 'done';
  }
  // Falcosidekick's test event: a "wiring works" message, no incident and no playbook.
  if (triage.route === 'test') return handleTestEvent(triage, meta.messageId, log, ctx);
  const now = ctx.now();
  const dedupeKey = aggregationKey(triage, ctx.bot.aggregateEvents);
  const observed = await ctx.incidents.observe({ dedupeKey, messageId: meta.messageId, at: eventTime(triage, now), event, windowMs: ctx.bot.stormWindowMs });
  let incident = observed.incident;
  const ilog = log.child({ incidentId: incident.incidentId });

  if (observed.outcome === 'duplicate-delivery') {
    // Already handled once; finish what a crash may have left undone.
    if ((incident.executionName || ctx.starts.isPending(incident.incidentId)) && ctx.outbox.has(incidentSlotKey(incident.incidentId))) {
      // A file repeat whose handling was cut short: its file may still need containing again.
      if (triage.route === 'file-artifact' && meta.messageId !== incident.firstMessageId) return containAgain(ctx, incident, triage, ilog);
      return 'done';
    }
  }
  const startNotifyDirectly = triage.route === 'notify' && !ctx.bot.stateMachines.notify;
  if (observed.outcome === 'repeat') {
    ctx.metrics.eventsDeduplicated.inc();
    ctx.metrics.messagesHandled.inc({ kind: 'event', outcome: 'repeat' });
    // The message shows the count: the incident's, or the report's once it replaced it.
    ctx.outbox.touchIncident(incident.incidentId);
    // At debug: a storm's repeats would be most of the log (and of the intake's CPU); the incident's
    // events file keeps every one, the message shows the count, and the metric counts them.
    ilog.debug('repeat counted on the open incident', { count: observed.count, dedupeKey });
    // The first event's handling may have died after the incident was recorded and before its
    // playbook started or its message was recorded; a repeat (a replay from the DLQ carries a new
    // message id) then finishes it: starting is idempotent (the execution's name), so is recording.
    // A first handling still in flight in this process (its store writes are slow under load) is
    // waited for, not taken for one that was cut short; if it failed, this repeat finishes it.
    const first = firstHandlings.get(ctx.incidents)?.get(incident.incidentId);
    if (first) {
      ilog.debug('repeat waits for the first handling of its incident, still in flight');
      await first.catch(() => undefined);
      incident = (await ctx.incidents.get(incident.incidentId)) ?? incident;
    }
    const started = Boolean(incident.executionName) || startNotifyDirectly || ctx.starts.isPending(incident.incidentId);
    const cutShort = !started || (!incident.messageId && !ctx.outbox.has(incidentSlotKey(incident.incidentId)));
    if (!cutShort) {
      // The file at that path may have been replaced since: a file repeat is contained again.
      if (triage.route === 'file-artifact') return containAgain(ctx, incident, triage, ilog);
      return 'done';
    }
    ilog.warn('the first handling of this incident was cut short: finishing it', { executionStarted: Boolean(incident.executionName) });
  }

  // New incident (or one whose handling was cut short).
  return asFirstHandling(ctx, incident.incidentId, () => startAndShow(ctx, incident, triage, event, startNotifyDirectly, ilog));
}

/** Records the start of the incident's playbook (made idempotently, by name, by the starter) and its message in the outbox. */
async function startAndShow(ctx: HandlerContext, incident: IncidentState, triage: TriageResult, event: unknown, startNotifyDirectly: boolean, ilog: Logger): Promise<HandlerOutcome> {
  const executionName = incident.executionName ?? executionNameFor(incident.dedupeKey, new Date(incident.windowStart));
  if (!startNotifyDirectly && !incident.executionName) {
    const input = buildPlaybookInput({
      incidentId: incident.incidentId,
      executionName,
      startTime: incident.firstSeen,
      triage,
      event,
      settings: { approvalTimeoutSeconds: ctx.bot.approvalTimeoutSeconds, defaultDecision: ctx.defaultDecision, heartbeatSeconds: ctx.bot.stepHeartbeatSeconds, observe: ctx.bot.mode === 'observe', forensics: forensicsSettings(ctx) },
    });
    // Recorded durably and made by the starter (playbookStarter.ts): the intake does not wait on
    // StartExecution, and a start that fails for a while is retried without holding the message.
    await ctx.starts.request({ incidentId: incident.incidentId, route: triage.route, executionName, input: input as unknown as Record<string, unknown> });
    ilog.info('playbook start recorded', { route: triage.route, executionName });
  }
  // Recorded, not posted here: the outbox's sender posts it (with the count and status of the
  // moment it is sent), in the new-incident lane, or folds it into a storm digest.
  // (A late redelivery of an incident already reported, whose message the outbox no longer keeps,
  // leaves the report as it is.)
  if (!isTerminalStatus(incident.status) || !incident.messageId) {
    const existing = incident.channelId && incident.messageId ? { channelId: incident.channelId, messageId: incident.messageId } : undefined;
    const view = incidentView(incident, triage, startNotifyDirectly ? undefined : executionName, startNotifyDirectly, ctx.bot.mode === 'observe');
    await ctx.outbox.showIncident(incident.incidentId, view, { createOnly: true, existing });
  }
  if (startNotifyDirectly) await ctx.incidents.setStatus(incident.incidentId, 'done');
  ctx.metrics.messagesHandled.inc({ kind: 'event', outcome: 'new' });
  return 'done';
}
