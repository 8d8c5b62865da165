import { ButtonStyle, type InteractionReplyOptions, type MessageCreateOptions, type MessageEditOptions } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { type ApprovalMessageInput, renderApprovalMessage } from '../../../src/handlers/render/approvalMessage.js';
import { renderDecidedApproval, renderPendingSecondApproval } from '../../../src/handlers/render/decisionUpdate.js';
import { severityColor } from '../../../src/handlers/render/severityColor.js';
import { ValidationError } from '../../../src/errors.js';
import type { TriageResult } from '../../../src/pipeline/triage/types.js';
import { customIds, expectWithinDiscordLimits, unicodeFill, worstPreflight, worstTriage } from './fixtures.js';

const ALICE = '111111111111111111';
const BOB = '222222222222222222';
const DEADLINE = new Date('2026-11-20T04:00:00Z');
const DEADLINE_UNIX = DEADLINE.getTime() / 1000;

function triage(): TriageResult {
  return {
    source: 'falco',
    rule: 'Crypto miner launched',
    severity: 'critical',
    route: 'approval',
    target: { node: 'ip-10-0-12-34.ec2.internal', namespace: 'prod', pod: 'web-7d9f', container: 'app' },
    ioc: { ip: '198.51.100.7', port: 3333 },
    dedupeKey: 'falco-abc',
    steps: ['request-approval', 'on-block:isolate-node', 'record-incident', 'report'],
    context: { user: 'www-data', proc: 'xmrig', cmdline: './xmrig -o pool:3333' },
    warnings: [],
  };
}

function input(overrides: Partial<ApprovalMessageInput> = {}): ApprovalMessageInput {
  return {
    approvalId: 'apv_0123456789',
    incidentId: 'inc-42',
    triage: triage(),
    proposedAction: { action: 'isolate-node', summary: 'swap the node to the quarantine security group' },
    preflight: {
      status: 'skipped',
      summary: 'dry run: would replace security groups sg-1, sg-2 with sg-quarantine',
      details: { dryRun: true, instanceId: 'i-0123456789abcdef0', securityGroupIds: ['sg-1', 'sg-2'], quarantineGroup: 'sg-quarantine' },
    },
    deadline: DEADLINE,
    evidenceLinks: [{ label: 'process list', url: 'https://evidence.example/ps.txt' }],
    requiredApprovals: 1,
    approvals: [],
    ...overrides,
  };
}

const fields = (m: { embeds: Array<{ fields?: Array<{ name: string; value: string }> }> }) => new Map(m.embeds[0]?.fields?.map((f) => [f.name, f.value]));
const buttons = (m: ReturnType<typeof renderApprovalMessage>) => m.components.flatMap((r) => r.components);

describe('renderApprovalMessage', () => {
  it('shows the rule, target, who and what, IoC, evidence, the proposed action and its preflight, the deadline', () => {
    const m = renderApprovalMessage(input());
    const embed = m.embeds[0];
    expect(embed?.title).toBe('[CRITICAL] Crypto miner launched');
    expect(embed?.color).toBe(severityColor('critical'));
    const f = fields(m);
    expect(f.get('Proposed action')).toBe('`isolate-node` swap the node to the quarantine security group');
    const preflight = f.get('Preflight') ?? '';
    expect(preflight).toContain('planned (dry run)');
    expect(preflight).toContain('sg-1, sg-2');
    expect(preflight).toContain('i-0123456789abcdef0');
    expect(f.get('Deadline')).toContain(`<t:${DEADLINE_UNIX}:R>`);
    expect(embed?.description).toContain(`<t:${DEADLINE_UNIX}:R>`);
    expect(f.get('Evidence')).toBe('[process list](https://evidence.example/ps.txt)');
    expect(f.get('IoC')).toBe('`198.51.100.7:3333`');
    for (const name of ['Node', 'Namespace', 'Pod', 'Container', 'User', 'Command line']) expect(f.has(name), name).toBe(true);
    expect(embed?.footer?.text).toContain('inc-42');
    expect(embed?.footer?.text).toContain('approval apv_0123456789');
    expectWithinDiscordLimits(m);
  });

  it('lists every candidate reading of an ambiguous file path, numbered and escaped', () => {
    const candidates = ['/var/www/up/a', '/var/www/up/a proc=x cmdline=.php', '/var/www/up/`x` @everyone **b**'];
    const m = renderApprovalMessage(input({ triage: { ...triage(), route: 'file-artifact', artifact: { candidates } }, proposedAction: { action: 'quarantine-file', summary: 'on every candidate' } }));
    const value = fields(m).get('File path: 3 possible readings (each is a candidate)') ?? '';
    expect(value.split('\n')).toEqual(['1. `/var/www/up/a`', '2. `/var/www/up/a proc=x cmdline=.php`', expect.stringMatching(/^3\. `\/var\/www\/up\/ˋxˋ @\u200beveryone \*\*b\*\*`$/)]);
    expectWithinDiscordLimits(m);
  });

  it('spreads sixteen long candidates over as many fields as they need, within Discord limits', () => {
    const candidates = Array.from({ length: 16 }, (_, i) => `/var/www/${String(i).padStart(2, '0')}/${'x'.repeat(180)}`);
    const m = renderApprovalMessage(input({ triage: { ...triage(), route: 'file-artifact', artifact: { candidates } } }));
    const shown = (m.embeds[0]?.fields ?? []).filter((f) => f.name.startsWith('File path')).flatMap((f) => f.value.split('\n'));
    expect(shown).toHaveLength(16);
    expect(shown.map((l) => l.split('.')[0])).toEqual(candidates.map((_, i) => String(i + 1)));
    expectWithinDiscordLimits(m);
  });

  it('has Allow (green, apv:<id>:allow) and Block (red, apv:<id>:block) buttons, enabled', () => {
    const m = renderApprovalMessage(input());
    expect(buttons(m)).toEqual([
      { type: 2, custom_id: 'apv:apv_0123456789:allow', label: 'Allow', style: ButtonStyle.Success },
      { type: 2, custom_id: 'apv:apv_0123456789:block', label: 'Block', style: ButtonStyle.Danger },
    ]);
  });

  it('keeps custom_ids within 100 characters: the approval id must be [A-Za-z0-9_-]{8,40}', () => {
    const longest = renderApprovalMessage(input({ approvalId: 'a'.repeat(40) }));
    for (const id of customIds(longest)) expect(id.length).toBeLessThanOrEqual(100);
    for (const approvalId of ['short', 'a'.repeat(41), 'has space1', 'apv:colon1', 'ünïcode123', `${'a'.repeat(10)}\n`]) {
      expect(() => renderApprovalMessage(input({ approvalId })), approvalId).toThrow(ValidationError);
    }
  });

  it('says when two different people must approve, and who has', () => {
    const m = renderApprovalMessage(input({ requiredApprovals: 2 }));
    expect(fields(m).get('Approvals')).toBe('0/2');
    expect(m.embeds[0]?.description).toContain('Two different people');
  });

  it('rejects an invalid deadline', () => {
    expect(() => renderApprovalMessage(input({ deadline: new Date('nope') }))).toThrow(ValidationError);
  });

  it('shows no link for a non-http(s) or credentialed URL', () => {
    const m = renderApprovalMessage(
      input({ evidenceLinks: [{ label: 'bad', url: 'javascript:alert(1)' }, { label: 'creds', url: 'https://u:p@x.example/' }, { label: '[x](https://evil)', url: 'https://ok.example/a b' }] }),
    );
    const ev = fields(m).get('Evidence') ?? '';
    expect(ev).toContain('bad (link not shown)');
    expect(ev).toContain('creds (link not shown)');
    expect(ev).toContain('[\\[x\\](https://evil)](https://ok.example/a%20b)');
    expect(ev).not.toContain('javascript:');
  });

  it('respects every limit with worst-case input (huge preflight, 1000 evidence links, hostile text)', () => {
    const m = renderApprovalMessage(
      input({
        approvalId: 'Z'.repeat(40),
        incidentId: `inc-${'9'.repeat(300)}`,
        triage: worstTriage(),
        proposedAction: { action: `isolate-node${unicodeFill(500)}`, summary: unicodeFill(5000) },
        preflight: worstPreflight(),
        evidenceLinks: Array.from({ length: 1000 }, (_, i) => ({ label: `${i} ${unicodeFill(300)}`, url: `https://evidence.example/${i}/${'p'.repeat(i % 3 ? 50 : 2000)}` })),
        requiredApprovals: 2,
        approvals: [{ by: `discord:${ALICE}`, at: new Date(), decision: 'block' }],
      }),
    );
    expectWithinDiscordLimits(m);
    expect(fields(m).has('Proposed action')).toBe(true);
    expect(fields(m).has('Preflight')).toBe(true);
    expect(fields(m).has('Deadline')).toBe(true);
  });

  it('is usable as MessageCreateOptions, MessageEditOptions and InteractionReplyOptions', () => {
    const m = renderApprovalMessage(input());
    const create: MessageCreateOptions = m;
    const edit: MessageEditOptions = m;
    const reply: InteractionReplyOptions = m;
    expect([create, edit, reply].every((o) => o.allowedMentions?.parse?.length === 0)).toBe(true);
  });
});

describe('renderDecidedApproval', () => {
  it('shows who decided and when (mentions shown, never pinged) and disables both buttons', () => {
    const at = new Date('2026-11-20T03:30:00Z');
    const m = renderDecidedApproval({ ...input(), decision: 'block', decidedBy: [ALICE, `discord:${BOB}`], at, note: 'confirmed miner @everyone' });
    const decision = fields(m).get('Decision') ?? '';
    expect(m.embeds[0]?.fields?.[0]?.name).toBe('Decision');
    expect(decision).toContain('Blocked');
    expect(decision).toContain(`<@${ALICE}>, <@${BOB}>`);
    expect(decision).toContain(`<t:${at.getTime() / 1000}:f>`);
    expect(decision).toContain('confirmed miner @\u200beveryone');
    expect(m.allowedMentions).toEqual({ parse: [] });
    expect(buttons(m).map((b) => [b.custom_id, b.disabled])).toEqual([
      ['apv:apv_0123456789:allow', true],
      ['apv:apv_0123456789:block', true],
    ]);
    // The rest of the approval embed is still there.
    expect(fields(m).get('Proposed action')).toContain('isolate-node');
    expectWithinDiscordLimits(m);
  });

  it('renders allow, expired and failed distinctly', () => {
    const at = new Date();
    const texts = (['allow', 'block', 'expired', 'failed'] as const).map((decision) =>
      fields(renderDecidedApproval({ ...input(), decision, decidedBy: decision === 'expired' ? [] : [ALICE], at })).get('Decision'),
    );
    expect(texts[0]).toContain('Allowed');
    expect(texts[2]).toMatch(/Expired: nobody decided/);
    expect(texts[3]).toContain('Failed');
    expect(new Set(texts).size).toBe(4);
  });

  it('escapes decidedBy values that are not Discord user ids instead of mentioning them', () => {
    const m = renderDecidedApproval({ ...input(), decision: 'allow', decidedBy: ['<@&123456789012345678>'], at: new Date() });
    expect(fields(m).get('Decision')).toContain('\\<@&123456789012345678>');
  });

  it('respects every limit with worst-case input', () => {
    const m = renderDecidedApproval({
      ...input({ triage: worstTriage(), preflight: worstPreflight(), approvalId: 'a'.repeat(40) }),
      decision: 'failed',
      decidedBy: Array.from({ length: 100 }, (_, i) => `${i}`.padStart(18, '1')),
      at: new Date(),
      note: unicodeFill(10_000),
    });
    expectWithinDiscordLimits(m);
    expect(fields(m).has('Decision')).toBe(true);
  });
});

describe('renderPendingSecondApproval', () => {
  it('records the first approver and keeps the buttons enabled for a second, different one', () => {
    const at = new Date('2026-11-20T03:20:00Z');
    const m = renderPendingSecondApproval(input({ requiredApprovals: 2, approvals: [{ by: ALICE, at, decision: 'block' }] }));
    const notice = fields(m).get('Second approval needed') ?? '';
    expect(m.embeds[0]?.fields?.[0]?.name).toBe('Second approval needed');
    expect(notice).toContain(`<@${ALICE}> chose **Block**`);
    expect(notice).toContain('different person');
    expect(fields(m).get('Approvals')).toContain('1/2');
    expect(buttons(m).every((b) => !b.disabled)).toBe(true);
    expect(m.allowedMentions).toEqual({ parse: [] });
    expectWithinDiscordLimits(m);
  });

  it('is only for the two-person rule with exactly one approval', () => {
    expect(() => renderPendingSecondApproval(input({ requiredApprovals: 1, approvals: [{ by: ALICE, at: new Date() }] }))).toThrow(ValidationError);
    expect(() => renderPendingSecondApproval(input({ requiredApprovals: 2, approvals: [] }))).toThrow(ValidationError);
  });
});
