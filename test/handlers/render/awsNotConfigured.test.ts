/**
 * An "AWS not configured" result (planWithoutAws.ts) as the bot shows it: its own status, the
 * plan's input and needs as detail lines, and in the incident report a line of its own that is
 * neither a failure nor a plain skip, within Discord's limits.
 */
import { describe, expect, it } from 'vitest';
import { actionResultText, statusText } from '../../../src/handlers/render/actionDetails.js';
import { renderReport } from '../../../src/handlers/render/reportMessage.js';
import { AwsNotConfiguredError } from '../../../src/errors.js';
import { actionRegistry } from '../../../src/pipeline/actions/registry.js';
import { planWithoutAws } from '../../../src/pipeline/planWithoutAws.js';
import { expectWithinDiscordLimits } from './fixtures.js';

const denyEgress = await actionRegistry()['deny-egress']!.load();
const plan = planWithoutAws(denyEgress, { ip: '203.0.113.7', port: 4444 }, new AwsNotConfiguredError('EC2', 'cannot deny egress'));

describe('an AWS-not-configured result, rendered', () => {
  it('has its own status and shows the plan: the input, the client it needs and the IAM actions', () => {
    expect(statusText(plan)).toBe('☁️ AWS not configured: plan only');
    const text = actionResultText(plan, 1024);
    expect(text.split('\n')[0]).toBe('☁️ AWS not configured: plan only: deny-egress would deny TCP egress to one IP address with a network ACL rule placed before the first egress allow rule, and record it so unblock-egress removes exactly that rule (ip=203.0.113.7, port=4444); needs EC2');
    expect(text).toMatch(/• ip: 203\\?\.0\.113\.7/);
    expect(text).toContain('• port: 4444');
    expect(text).toContain('• needs: EC2');
    expect(text).toMatch(/• iam: .*ec2:CreateNetworkAclEntry/);
    expect(text).not.toMatch(/awsNotConfigured|dryRun/);
  });

  it('is a line of its own in the incident report, and the incident still completes', () => {
    const m = renderReport({
      incident: {
        route: 'reverse-shell',
        triage: { rule: 'Reverse shell', severity: 'critical', route: 'reverse-shell' },
        actions: [
          { action: 'deny-egress', status: plan.status, summary: plan.summary, details: plan.details as unknown as Record<string, unknown> },
          { action: 'record-incident', status: 'succeeded', summary: 'incident recorded' },
        ],
        manifest: [],
        decisions: [],
      },
    });
    const actions = m.embeds.flatMap((e) => e.fields ?? []).find((f) => f.name === 'Actions')?.value;
    expect(actions?.split('\n')[0]).toBe(
      '☁️ `deny-egress` AWS not configured, plan only: would deny TCP egress to one IP address with a network ACL rule placed before the first egress allow rule, and record it so unblock-egress removes exactly that rule (ip=203.0.113.7, port=4444); needs EC2',
    );
    expect(m.embeds[0]?.description).toContain('✅ completed');
    expectWithinDiscordLimits(m);
  });

  it('a failed result that claims awsNotConfigured is shown as the failure it is', () => {
    expect(statusText({ status: 'failed', details: { awsNotConfigured: true } })).toBe('❌ failed');
  });
});
