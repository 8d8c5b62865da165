import { describe, expect, it } from 'vitest';
import { createBotMetrics, registerOutboxBacklog, registerStartsBacklog } from '../../../src/bot/ops/metrics.js';

describe('the outbox backlog metric', () => {
  it('reports what waits in each lane at each scrape, not at registration', async () => {
    const metrics = createBotMetrics();
    let backlog = { approval: 0, report: 0, incident: 0, update: 0 };
    registerOutboxBacklog(metrics.registry, () => backlog);

    const first = await metrics.registry.metrics();
    expect(first).toContain('# TYPE sentinel_discord_outbox_waiting gauge');
    expect(first).toMatch(/^sentinel_discord_outbox_waiting\{lane="incident"\} 0$/m);

    backlog = { approval: 2, report: 0, incident: 40, update: 7 };
    const second = await metrics.registry.metrics();
    expect(second).toMatch(/^sentinel_discord_outbox_waiting\{lane="approval"\} 2$/m);
    expect(second).toMatch(/^sentinel_discord_outbox_waiting\{lane="incident"\} 40$/m);
    expect(second).toMatch(/^sentinel_discord_outbox_waiting\{lane="update"\} 7$/m);
  });
});

describe('the playbook starts backlog metric', () => {
  it('reports the starts recorded and not made at each scrape', async () => {
    const metrics = createBotMetrics();
    let pending = 0;
    registerStartsBacklog(metrics.registry, () => pending);
    expect(await metrics.registry.metrics()).toMatch(/^sentinel_playbook_starts_pending 0$/m);
    pending = 37;
    expect(await metrics.registry.metrics()).toMatch(/^sentinel_playbook_starts_pending 37$/m);
  });
});
