import type { PlaybookStarts } from './playbookStarter.js';
import type { BotSettings } from '../config.js';
import type { Logger } from '../logger.js';
import type { ActionRegistry } from '../pipeline/actions/registry.js';
import type { ActionDeps } from '../pipeline/actions/types.js';
import type { PlaybookConfig } from '../pipeline/triage/playbookConfig.js';
import type { DiscordPort } from './ports/discordPort.js';
import type { PlaybookEngine } from './ports/playbookEngine.js';
import type { BotMetrics } from './ports/metrics.js';
import type { ApprovalStore } from '../stores/approvalStore.js';
import type { AuditLog } from '../stores/auditLog.js';
import type { IncidentStore } from '../stores/incidentStore.js';
import type { DiscordOutbox } from './ports/outbox.js';
import type { ConfirmationStore } from '../stores/confirmationStore.js';
import type { ContainmentWindow } from '../stores/containmentWindow.js';
import type { DeadLetterStore } from '../stores/deadLetterStore.js';

/** Everything a handler may use, created once at start-up and passed in. */
export interface HandlerContext {
  logger: Logger;
  playbooks: PlaybookConfig;
  engine: PlaybookEngine;
  /** Immediate Discord writes (interactive replies), through the outbox's priority lane and channel budget. */
  discord: DiscordPort;
  /** Messages recorded durably and sent by the outbox's sender: handlers never wait on Discord. */
  outbox: DiscordOutbox;
  /** Playbook starts recorded durably and made by the starter's workers: the intake never waits on StartExecution. */
  starts: PlaybookStarts;
  approvals: ApprovalStore;
  incidents: IncidentStore;
  audit: AuditLog;
  confirmations: ConfirmationStore;
  /** Why each retried message failed, for `sentinel dlq list`; nothing is recorded when absent. */
  deadLetters?: DeadLetterStore;
  /** The shared window of automatic containment (the cap); made from actionDeps when absent. */
  containmentWindow?: ContainmentWindow;
  actions: ActionRegistry;
  actionDeps: ActionDeps;
  metrics: BotMetrics;
  channelId: string;
  /** DISCORD_GUILD_ID: interactions from any other guild, or from a DM, are refused. */
  guildId: string;
  responderRoleIds: readonly string[];
  bot: BotSettings;
  /** What an approval becomes when nobody answers in time. */
  defaultDecision: 'allow' | 'block';
  now: () => Date;
  /** Aborted when the bot stops: a handler that would wait (a file repeat's next run) leaves its message for a redelivery instead. */
  stopping?: AbortSignal;
}

/** What a message handler tells the intake: delete the message, or leave it for a retry. */
export type HandlerOutcome = 'done' | 'retry';
