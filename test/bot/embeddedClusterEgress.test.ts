/**
 * The cluster egress backend end to end in embedded mode (no AWS at all): a GuardDuty EKS finding
 * posted to the webhook runs the pod containment playbook in-process; with
 * SENTINEL_EGRESS_BACKEND=cilium its egress block is a CiliumClusterwideNetworkPolicy in the
 * fake Kubernetes API (which serves the CRD), recorded in the data directory's object store; the
 * expiry sweeper lifts exactly that policy when it expires and says so in the channel.
 */
import { readFileSync } from 'node:fs';
import type { APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepExpiredBlocks } from '../../src/bot/sweepExpiredBlocks.js';
import { waitFor } from '../support/aws.js';
import { CILIUM_CLUSTERWIDE_POLICY } from '../support/fakeKube/crds.js';
import { createEmbeddedHarness, EMBEDDED_CONTAINER, EMBEDDED_NAMESPACE, EMBEDDED_NODE, EMBEDDED_POD, type EmbeddedHarness } from '../helpers/embeddedHarness.js';

const REMOTE_IP = '198.51.100.144';
let h: EmbeddedHarness;

beforeAll(async () => {
  h = await createEmbeddedHarness();
  h.kube.installCustomResource(CILIUM_CLUSTERWIDE_POLICY);
  await h.start({ SENTINEL_EGRESS_BACKEND: 'cilium' });
}, 120_000);
afterAll(async () => {
  await h?.close();
});

function finding() {
  const event = JSON.parse(readFileSync(new URL('../fixtures/guardduty-eks/runtime-reverse-shell.json', import.meta.url), 'utf8')) as { detail: Record<string, any> };
  const d = event.detail;
  Object.assign(d.resource.kubernetesDetails.kubernetesWorkloadDetails, { name: EMBEDDED_POD, namespace: EMBEDDED_NAMESPACE });
  d.resource.kubernetesDetails.kubernetesWorkloadDetails.containers[0].name = EMBEDDED_CONTAINER;
  d.resource.instanceDetails.networkInterfaces[0].privateDnsName = EMBEDDED_NODE;
  d.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4 = REMOTE_IP;
  return event;
}

const policies = () => h.kube.customObjects('cilium.io', 'ciliumclusterwidenetworkpolicies');

describe('embedded mode with SENTINEL_EGRESS_BACKEND=cilium', () => {
  it('a GuardDuty EKS finding blocks its remote IP with a CiliumClusterwideNetworkPolicy; the sweeper lifts it when it expires', { timeout: 180_000 }, async () => {
    expect((await h.post(finding())).status).toBe(202);
    // The node question comes last: Allow, so the node stays (no AWS here anyway).
    const ask = await h.waitForChannelMessage((m: APIMessage) => (m.components?.length ?? 0) > 0 && JSON.stringify(m.embeds).includes('isolate-node'), 90_000);
    const customId = (ask.components![0] as { components: { custom_id: string }[] }).components[0]!.custom_id;
    const approvalId = /^apv:([A-Za-z0-9_-]+):/.exec(customId)![1]!;
    const click = h.discord.clickButton({ userId: h.users.alice, messageId: ask.id, customId: `apv:${approvalId}:allow` });
    expect((await click.waitForResponse()).type).toBe(6);

    const report = await h.waitForChannelMessage((m) => (m.embeds[0]?.title ?? '').startsWith('Report:') && JSON.stringify(m.embeds).includes(REMOTE_IP), 90_000);
    const text = JSON.stringify(report.embeds);
    expect(text).toMatch(/deny-egress.{0,40}denied TCP egress from every pod to 198\.51\.100\.144 tcp\/4444 with CiliumClusterwideNetworkPolicy sentinel-deny-egress-198-51-100-144-tcp-4444/);
    expect(text).toMatch(/isolate-pod.{0,20}isolated pod/);
    const [policy] = policies();
    expect(policy?.spec).toMatchObject({ enableDefaultDeny: { egress: false }, egressDeny: [{ toCIDR: [`${REMOTE_IP}/32`] }] });

    // A day and more later: the sweeper lifts exactly that policy, through unblock-egress, and reports it.
    const later = new Date(Date.now() + 25 * 3600_000);
    const handled = await sweepExpiredBlocks({ ...h.bot.context, now: () => later });
    expect(handled).toBe(1);
    expect(policies()).toEqual([]);
    const expiry = await h.waitForChannelMessage((m) => m.embeds[0]?.title === 'Expired egress blocks: 1 of 1 lifted', 60_000);
    expect(expiry.embeds[0]?.description).toContain(`${REMOTE_IP}/cilium/sentinel-deny-egress-198-51-100-144-tcp-4444: ${REMOTE_IP} tcp/4444, CiliumClusterwideNetworkPolicy sentinel-deny-egress-198-51-100-144-tcp-4444`);
    expect(expiry.embeds[0]?.description).toMatch(/deleted CiliumClusterwideNetworkPolicy/);
    // Nothing left to lift.
    expect(await waitFor(async () => ((await sweepExpiredBlocks({ ...h.bot.context, now: () => later })) === 0 ? true : undefined), { timeoutMs: 10_000, what: 'an empty sweep' })).toBe(true);
  });
});
