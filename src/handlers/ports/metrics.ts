/**
 * The metrics handlers count into. The bot makes them (src/bot/ops/metrics.ts) and serves them on
 * /metrics; handlers only count.
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The bot's Prometheus metrics, on a registry of their own (no global default registry). */
export interface BotMetrics {
  registry: Registry;
  messagesHandled: Counter<'kind' | 'outcome'>;
  messagesFailed: Counter<'kind'>;
  approvalsPending: Gauge;
  approvalsDecided: Counter<'decision'>;
  actionLatency: Histogram<'action' | 'status'>;
  eventsDeduplicated: Counter;
}
