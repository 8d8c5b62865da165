/**
 * What a slot's message shows now, pure: its view, with the live facts the sender reads at send
 * time (the incident's repeat count and status; a digest's members). Rendering at send time is
 * what coalesces: however many changes came in, one write shows the latest of them.
 */
import type { APIEmbed } from 'discord.js';
import { renderDecisionOnMessage } from '../../handlers/render/decisionOnMessage.js';
import { renderDigest, renderDigestPage } from './digestMessage.js';
import { renderIncidentMessage } from '../../handlers/render/incidentMessage.js';
import { renderNotifyAlert } from '../../handlers/render/notifyMessage.js';
import { readShownTriage } from '../../handlers/render/readShownTriage.js';
import { type RenderedMessage, noMentions } from '../../handlers/render/payload.js';
import { renderReport, type ReportInput } from '../../handlers/render/reportMessage.js';
import type { IncidentState } from '../../stores/incidentStore.js';
import type { Slot, SlotView, StoredMessage, ViewOf } from '../../handlers/ports/outboxSlot.js';
import { DIGEST_PAGE_SIZE, summarizeDigest, type DigestMember } from './planDigest.js';

export interface SlotFacts {
  /** The incident as stored now (count, first and last seen, status), for an incident's message. */
  incident?: IncidentState | undefined;
  /** A digest's members, in the order they joined (for a digest and its pages). */
  members?: readonly DigestMember[];
  /** For a page: its digest's view. */
  digest?: ViewOf<'digest'>;
}

function stored(payload: StoredMessage): RenderedMessage {
  return {
    ...(payload.content !== undefined ? { content: payload.content } : {}),
    embeds: payload.embeds as APIEmbed[],
    components: payload.components as unknown as RenderedMessage['components'],
    allowedMentions: noMentions(),
  };
}

/** Pages of a digest's list for `members` members. */
export function digestPages(members: number): number {
  return Math.ceil(members / DIGEST_PAGE_SIZE);
}

type Renderers = { [K in SlotView['kind']]: (view: ViewOf<K>, facts: SlotFacts) => RenderedMessage };

const RENDERERS = {
  incident: (view, { incident }) =>
    renderIncidentMessage({
      incidentId: view.incidentId,
      triage: readShownTriage(view.triage),
      status: incident?.status ?? 'running',
      observe: view.observe,
      repeats: incident ? { count: incident.count, firstSeen: incident.firstSeen, lastSeen: incident.lastSeen } : undefined,
      ...((view.executionName ?? incident?.executionName) ? { executionName: view.executionName ?? incident?.executionName } : {}),
    }),
  alert: (view) => renderNotifyAlert(readShownTriage(view.triage)),
  report: (view, { incident }) => {
    const input = { ...(view.incident as unknown as ReportInput['incident']), triage: readShownTriage(view.incident.triage) };
    const repeats = Math.max(input.repeats ?? 0, incident?.count ?? 0);
    return renderReport({ incident: { ...input, incidentId: view.incidentId, ...(repeats ? { repeats } : {}) }, ...(view.record ? { record: view.record } : {}) });
  },
  approval: (view) =>
    view.outcome
      ? renderDecisionOnMessage({
          approvalId: view.approvalId,
          embeds: view.payload.embeds as APIEmbed[],
          decision: view.outcome.decision,
          by: view.outcome.by,
          at: new Date(view.outcome.at),
          ...(view.outcome.note ? { note: view.outcome.note } : {}),
        })
      : stored(view.payload),
  digest: (view, { members = [] }) =>
    renderDigest({
      digestId: view.digestId,
      rule: view.rule,
      targetClass: view.targetClass,
      summary: summarizeDigest(members),
      openedAt: new Date(view.openedAt),
      lastJoinAt: new Date(view.lastJoinAt),
      pages: digestPages(members.length),
    }),
  part: (view, { members = [] }) => {
    const from = view.index * DIGEST_PAGE_SIZE;
    return renderDigestPage(members.slice(from, from + DIGEST_PAGE_SIZE), from, members.length);
  },
  post: (view) => stored(view.payload),
} satisfies Renderers;

export function renderSlot(slot: Slot, facts: SlotFacts): RenderedMessage {
  const render = RENDERERS[slot.view.kind] as (view: SlotView, facts: SlotFacts) => RenderedMessage;
  return render(slot.view, facts);
}

/** Whether the view shows the incident's repeat count (so a new repeat calls for an edit). */
export function showsCount(view: SlotView): boolean {
  return view.kind === 'incident' || view.kind === 'report';
}

/** A rendered message as the outbox stores it. */
export function toStored(payload: RenderedMessage): StoredMessage {
  return {
    ...(payload.content !== undefined ? { content: payload.content } : {}),
    embeds: payload.embeds as unknown as StoredMessage['embeds'],
    components: payload.components as unknown as StoredMessage['components'],
  };
}
