import { escapeText } from './escapeText.js';
import { LIMITS } from './limits.js';
import { message, type RenderedMessage } from './payload.js';

/** One expired block the sweeper lifted (or, in observe mode, would lift). */
export interface ExpiredBlockLine {
  id: string;
  ip: string;
  port: number | null;
  /** A network ACL block's rule; a cluster block has `where` (its policy) instead. */
  naclId?: string;
  ruleNumber?: number;
  /** What the block is, when not a network ACL rule: `CiliumClusterwideNetworkPolicy <name>`. */
  where?: string;
  incidentId: string;
  expiresAt: string;
  /** unblock-egress's status and summary. */
  status: 'succeeded' | 'skipped' | 'failed';
  summary: string;
}

const MARK = { succeeded: '✅', skipped: '➖', failed: '⚠️' } as const;

/**
 * The sweeper's report of expired egress blocks: one line per block, every value escaped (the
 * IP, ids and summaries came from events and AWS), mentions off.
 */
export function renderBlockExpiry(lines: readonly ExpiredBlockLine[], options: { observe: boolean }): RenderedMessage {
  const text = lines
    .map((l) => `${MARK[l.status]} ${l.id}: ${l.ip} ${l.port === null ? 'all TCP ports' : `tcp/${l.port}`}, ${l.where ?? `rule ${l.ruleNumber} of ${l.naclId}`}, incident ${l.incidentId}, expired ${l.expiresAt}: ${l.summary}`)
    .join('\n');
  const lifted = lines.filter((l) => l.status === 'succeeded').length;
  const title = options.observe
    ? `Observe mode: ${lines.length} expired egress block${lines.length === 1 ? '' : 's'} would be lifted`
    : `Expired egress blocks: ${lifted} of ${lines.length} lifted`;
  return message([{ title, description: escapeText(text, LIMITS.embedDescription), color: 0x5865f2 }]);
}
