/**
 * The outbox as handlers see it: messages recorded durably and sent by the bot's sender, so a
 * handler never waits on Discord. The bot implements it (src/bot/outbox/discordOutbox.ts) and the
 * composition root (src/bot/startBot.ts) passes it in the handler context.
 */
import type { RenderedMessage } from '../render/payload.js';
import type { DiscordPort, PostedMessage } from './discordPort.js';
import type { IncidentMessageView, Lane, ViewOf } from './outboxSlot.js';

export interface ShowIncidentOptions {
  /** Record only if the incident has no message yet (a redelivered event). */
  createOnly?: boolean;
  /** The message already posted for it (by a bot before the outbox, or a slot since forgotten): edited, not posted again. */
  existing?: PostedMessage | undefined;
}

/** Where a one-off post goes: the channel, or the thread of another slot's message. */
export type PostPlace = { channelId: string } | { threadOf: string; threadName: string; whenFolded: 'digest-thread' | 'drop' };

export interface ApprovalOutcome {
  decision: NonNullable<ViewOf<'approval'>['outcome']>['decision'];
  by: readonly string[];
  at: Date;
  note?: string;
}

export interface DiscordOutbox {
  /** Loads what was recorded before (a restart), then starts sending. */
  start(): Promise<void>;
  /** Stops sending after at most `drainMs` (default 1 s) of sending what can go now; the rest stays recorded. */
  stop(drainMs?: number): Promise<void>;
  has(key: string): boolean;
  /**
   * The incident's message shows `view` (recorded before this resolves). `kept`: the message
   * already shows a later kind (a report), or exists and `createOnly`; `unchanged`: it shows this.
   */
  showIncident(incidentId: string, view: IncidentMessageView, options?: ShowIncidentOptions): Promise<'recorded' | 'kept' | 'unchanged'>;
  /** The incident's repeat count changed: its message is re-rendered (counter lane, coalesced). */
  touchIncident(incidentId: string): void;
  /** Posts an approval request once (the approval lane). */
  requestApproval(input: { approvalId: string; incidentId: string; action: string; payload: RenderedMessage }): Promise<'recorded' | 'exists'>;
  /**
   * An approval's message shows `payload` instead (its plan, from a preflight that answered late),
   * unless an outcome is on it already: `decided` then, and nothing changes. `missing`: no such
   * approval message here.
   */
  updateApproval(approvalId: string, payload: RenderedMessage): Promise<'recorded' | 'decided' | 'missing'>;
  /**
   * Shows an approval's outcome on its message (posted or not yet); false when there is no such
   * approval message here. `shown`: the caller has just shown it (the clicked message, edited in
   * the interaction's reply): the outbox edits the message only if a change of its own is still
   * unsent or on its way (which would otherwise land over the decision).
   */
  showApprovalOutcome(approvalId: string, outcome: ApprovalOutcome, options?: { shown?: boolean }): Promise<boolean>;
  /** A one-off message, posted once (`id` makes it idempotent). */
  post(id: string, payload: RenderedMessage, place: PostPlace, lane: Lane): Promise<'recorded' | 'exists'>;
  /** Immediate writes (an interactive reply that needs the message id) in the approval lane, under the same budget. */
  readonly port: DiscordPort;
  /** Messages waiting to be sent, by lane. */
  backlog(): Record<Lane, number>;
}
