import { describeError } from '../errors.js';
import { shortId } from '../handlers/ports/outboxSlot.js';
import type { HandlerContext } from '../handlers/context.js';
import { blockIdOf, listAllBlocks } from '../pipeline/blocks/blockRegistry.js';
import { listAllClusterBlocks } from '../pipeline/blocks/clusterBlockRegistry.js';
import { invokeAction } from '../pipeline/invokeAction.js';
import { renderBlockExpiry, type ExpiredBlockLine } from '../handlers/render/blockExpiryMessage.js';

/** Who lifts expired blocks, in block records' audit and the action log. */
export const BLOCK_EXPIRY_ACTOR = 'sentinel:block-expiry';

export interface BlockSweepState {
  /** Blocks already reported in observe mode (nothing is lifted there, so each is shown once). */
  observed: Set<string>;
}

export function newBlockSweepState(): BlockSweepState {
  return { observed: new Set() };
}

/**
 * Lifts every egress block whose expiresAt has passed, one block record at a time, through
 * unblock-egress (`{block: <id>}`: only that rule, and only while it is still sentinel's deny),
 * audits each (`block-expired`) and posts what it lifted to the incident channel. In observe mode
 * it lifts nothing and reports each expired block once, as the plan. Safe on several replicas:
 * unblocking is idempotent (a block another replica lifted is gone from the registry). Returns the
 * number of blocks handled.
 */
export async function sweepExpiredBlocks(ctx: HandlerContext, state: BlockSweepState = newBlockSweepState()): Promise<number> {
  const s3 = ctx.actionDeps.aws.s3;
  const bucket = ctx.actionDeps.settings.evidenceBucket;
  const def = ctx.actions['unblock-egress'];
  if (!s3 || !bucket || !def) return 0;
  const now = ctx.now();
  const observe = ctx.bot.mode === 'observe';
  const onInvalid = (key: string, reason: string) => ctx.logger.warn('skipping an invalid block record', { key, reason });
  // Network ACL rules and cluster policies (SENTINEL_EGRESS_BACKEND cilium or calico), each lifted by unblock-egress.
  const blocks = [
    ...(await listAllBlocks({ s3, bucket }, onInvalid)).map((b) => ({ key: b.key, record: b.record, place: { naclId: b.record.naclId, ruleNumber: b.record.ruleNumber } })),
    ...(await listAllClusterBlocks({ s3, bucket }, onInvalid)).map((b) => ({ key: b.key, record: b.record, place: { where: `${b.record.policy.kind} ${b.record.policy.name}` } })),
  ];
  const expired = blocks.filter((b) => b.record.expiresAt !== null && Date.parse(b.record.expiresAt) <= now.getTime());
  const lines: ExpiredBlockLine[] = [];
  for (const block of expired) {
    const id = blockIdOf(block.key);
    if (observe && state.observed.has(id)) continue;
    const r = block.record;
    const result = await invokeAction(
      def,
      { block: id },
      { actor: BLOCK_EXPIRY_ACTOR, incidentId: r.incidentId, reason: `expired at ${r.expiresAt}`, ...(observe ? { dryRun: true } : {}) },
      ctx.actionDeps,
    );
    if (observe) state.observed.add(id);
    const line: ExpiredBlockLine = { id, ip: r.ip, port: r.port, ...block.place, incidentId: r.incidentId, expiresAt: r.expiresAt!, status: result.status, summary: result.summary };
    // Another replica lifted it first: nothing to report here.
    if (result.status === 'skipped' && !observe && (result.details as { blocks?: unknown[] }).blocks?.length === 0) continue;
    lines.push(line);
    await ctx.audit.append({
      at: ctx.now(),
      who: BLOCK_EXPIRY_ACTOR,
      what: 'block-expired',
      incidentId: r.incidentId,
      outcome: observe ? 'observed' : result.status,
      detail: { block: id, ip: r.ip, port: r.port, ...block.place, expiresAt: r.expiresAt, summary: result.summary },
    });
  }
  if (lines.length) {
    // Recorded in the outbox (posted when Discord takes it); the id makes a repeated sweep post it once.
    const id = `blocks-${shortId(...lines.map((l) => `${l.id}@${l.expiresAt}`), observe ? 'observe' : 'lifted')}`;
    try {
      await ctx.outbox.post(id, renderBlockExpiry(lines, { observe }), { channelId: ctx.channelId }, 'report');
    } catch (err) {
      ctx.logger.warn('cannot record the expired blocks message', { reason: describeError(err), blocks: lines.map((l) => l.id) });
    }
  }
  return lines.length;
}
