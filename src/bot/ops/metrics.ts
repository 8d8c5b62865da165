import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BotMetrics } from '../../handlers/ports/metrics.js';

// The metrics' shape is the handlers' port (src/handlers/ports/metrics.ts); this module makes them.
export type { BotMetrics } from '../../handlers/ports/metrics.js';

export function createBotMetrics(options: { defaultMetrics?: boolean } = {}): BotMetrics {
  const registry = new Registry();
  // Node's process metrics under their standard names (process_cpu_user_seconds_total,
  // nodejs_heap_size_used_bytes…), which the usual dashboards and alerts query; sentinel's own are sentinel_*.
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    messagesHandled: new Counter({ name: 'sentinel_messages_handled_total', help: 'SQS messages handled, by kind and outcome', labelNames: ['kind', 'outcome'], registers: [registry] }),
    messagesFailed: new Counter({ name: 'sentinel_messages_failed_total', help: 'SQS messages whose handling failed (left for retry)', labelNames: ['kind'], registers: [registry] }),
    approvalsPending: new Gauge({ name: 'sentinel_approvals_pending', help: 'Approvals waiting for a decision', registers: [registry] }),
    approvalsDecided: new Counter({ name: 'sentinel_approvals_decided_total', help: 'Approvals decided, by decision', labelNames: ['decision'], registers: [registry] }),
    actionLatency: new Histogram({
      name: 'sentinel_action_duration_seconds',
      help: 'Pipeline action latency',
      labelNames: ['action', 'status'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    eventsDeduplicated: new Counter({ name: 'sentinel_events_deduplicated_total', help: 'Events counted on an existing incident instead of starting a new one', registers: [registry] }),
  };
}

/**
 * `sentinel_discord_outbox_waiting{lane}`: messages recorded in the Discord outbox and not yet sent, read at each
 * scrape. A backlog that grows while Discord is up means the channel budget is too small for the incident rate.
 */
export function registerOutboxBacklog(registry: Registry, backlog: () => Readonly<Record<string, number>>): Gauge<'lane'> {
  return new Gauge({
    name: 'sentinel_discord_outbox_waiting',
    help: 'Discord messages recorded in the outbox and not yet sent, by lane',
    labelNames: ['lane'],
    registers: [registry],
    collect() {
      for (const [lane, waiting] of Object.entries(backlog())) this.set({ lane }, waiting);
    },
  });
}

/** `sentinel_playbook_starts_pending`: playbook starts recorded by the intake and not made yet (the starter's backlog). */
export function registerStartsBacklog(registry: Registry, backlog: () => number): Gauge {
  return new Gauge({
    name: 'sentinel_playbook_starts_pending',
    help: 'Playbook starts recorded by the intake and not yet made by the starter',
    registers: [registry],
    collect() {
      this.set(backlog());
    },
  });
}
