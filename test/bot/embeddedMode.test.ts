/**
 * Embedded mode, end to end with no AWS at all: `sentinel start` with only the Discord settings
 * runs the playbooks in-process (the same deploy/statemachines files), takes events from the
 * webhook, keeps state and evidence in SENTINEL_DATA_DIR, and the fake Discord and fake
 * Kubernetes API stand for the outside world.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { APIMessage } from '../support/fakeDiscord/types.js';
import { waitFor } from '../support/aws.js';
import { fluentBitLine, kv, reverseShellLine } from '../helpers/events.js';
import {
  createEmbeddedHarness,
  EMBEDDED_CONTAINER,
  EMBEDDED_NAMESPACE,
  EMBEDDED_NODE,
  EMBEDDED_POD,
  type EmbeddedHarness,
} from '../helpers/embeddedHarness.js';

const SHELL = '/var/www/html/uploads/shell.php';
const SHELL_CONTENT = '<?php system($_GET["c"]); ?>\n';

let h: EmbeddedHarness;

beforeAll(async () => {
  h = await createEmbeddedHarness({ files: { [SHELL]: SHELL_CONTENT } });
  await h.start({ SENTINEL_APPROVAL_DEFAULT_DECISION: 'allow' });
}, 120_000);

afterAll(async () => {
  await h?.close();
});

function reverseShell(ip: string) {
  return fluentBitLine(reverseShellLine({ ip, port: 4444, pod: EMBEDDED_POD, ns: EMBEDDED_NAMESPACE }), { host: EMBEDDED_NODE, priority: 'Critical' });
}

function uploadMove(tag: string) {
  return fluentBitLine(
    `DVWA_UPLOAD_MOVE ${kv({ src: `/tmp/php${tag}`, dst: SHELL, proc: 'apache2', cmdline: `apache2 -DFOREGROUND ${tag}`, user: 'www-data', container: EMBEDDED_CONTAINER, pod: EMBEDDED_POD, ns: EMBEDDED_NAMESPACE })}`,
    { host: EMBEDDED_NODE, priority: 'Notice' },
  );
}

function artifactExec(tag: string) {
  return fluentBitLine(
    `ARTIFACT_EXEC ${kv({ reason: 'exec_from_upload_dir', exepath: '/var/www/html/uploads/x', cmdline: `x -c id # ${tag}`, container: EMBEDDED_CONTAINER, container_id: '3f2a9c1b7d4e', pod: EMBEDDED_POD, ns: EMBEDDED_NAMESPACE, node: EMBEDDED_NODE, user: 'www-data' })}`,
    { host: EMBEDDED_NODE },
  );
}

/**
 * The report of the incident whose first message showed `needle` (an IP, or a tag of letters and
 * digits in the command line): the incident message once it is edited into the report.
 */
async function reportAbout(needle: string, timeoutMs = 90_000): Promise<APIMessage> {
  const posted = await waitFor(
    async () => h.discord.calls((c) => c.method === 'POST' && c.route === '/channels/:channel_id/messages' && c.status === 200 && JSON.stringify(c.body).includes(needle))[0],
    { timeoutMs, what: `the incident message about ${needle}` },
  );
  const incidentId = /incident (inc-[0-9a-f]+)/.exec(JSON.stringify(posted.body))![1]!;
  return h.waitForChannelMessage((m) => (m.embeds[0]?.title ?? '').startsWith('Report:') && (m.embeds[0]?.footer?.text ?? '').includes(incidentId), timeoutMs);
}

/** The approval message of an incident whose event carried `tag` (letters and digits: shown as it is), and its approval id. */
async function approvalFor(tag: string): Promise<{ message: APIMessage; approvalId: string }> {
  const message = await h.waitForChannelMessage((m) => (m.components?.length ?? 0) > 0 && JSON.stringify(m.embeds).includes(tag), 90_000);
  const customId = (message.components![0] as { components: { custom_id: string }[] }).components[0]!.custom_id;
  return { message, approvalId: /^apv:([A-Za-z0-9_-]+):/.exec(customId)![1]! };
}

async function click(approval: { message: APIMessage; approvalId: string }, decision: 'allow' | 'block'): Promise<void> {
  const c = h.discord.clickButton({ userId: h.users.alice, messageId: approval.message.id, customId: `apv:${approval.approvalId}:${decision}` });
  expect((await c.waitForResponse()).type).toBe(6);
}

/** Evidence kept under the data dir: every object whose sidecar records this sha256. */
async function evidenceWithSha(sha256: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.name.endsWith('.json') && (await readFile(path, 'utf8')).includes(sha256)) found.push(path);
    }
  };
  await walk(join(h.dataDir, 'objects'));
  return found;
}

describe('embedded mode', () => {
  it('starts with only the Discord settings and says it runs embedded', () => {
    expect(h.bot.backend.mode).toBe('embedded');
    const line = h.logs.map((l) => JSON.parse(l) as { message: string }).find((l) => l.message.startsWith('running embedded:'));
    expect(line?.message).toContain('SENTINEL_QUEUE_URL');
  });

  it('a reverse shell posted to the webhook becomes an incident whose report shows the planned NACL block (AWS not configured)', async () => {
    const ip = '198.51.100.201';
    const accepted = await h.post(reverseShell(ip));
    expect(accepted.status).toBe(202);
    const report = await reportAbout(ip);
    const text = JSON.stringify(report.embeds);
    expect(text).toContain('deny-egress');
    expect(text).toMatch(/AWS not configured/);
  });

  it('a file-artifact event extracts the file from the pod into the data directory with its sha256, and quarantines it', async () => {
    const sha256 = createHash('sha256').update(SHELL_CONTENT).digest('hex');
    expect((await h.post(uploadMove('a1b2c3'))).status).toBe(202);
    const report = await reportAbout('a1b2c3');
    const text = JSON.stringify(report.embeds);
    expect(text).toContain('extract-file');
    expect(text).toContain('quarantine-file');
    expect(text).toContain(sha256.slice(0, 12));
    expect(await evidenceWithSha(sha256)).not.toEqual([]);
    expect(() => h.kube.pod(EMBEDDED_NAMESPACE, EMBEDDED_POD).readFile(SHELL)).toThrow(/ENOENT/);
  });

  it('an ARTIFACT_EXEC event asks for approval; Block runs the isolation plan (AWS not configured), Allow does not', async () => {
    expect((await h.post(artifactExec('blockme7'))).status).toBe(202);
    const blocked = await approvalFor('blockme7');
    await click(blocked, 'block');
    const blockedReport = await reportAbout('blockme7');
    expect(JSON.stringify(blockedReport.embeds)).toMatch(/isolate-node.{0,80}AWS not configured/);

    expect((await h.post(artifactExec('allowme7'))).status).toBe(202);
    const allowed = await approvalFor('allowme7');
    await click(allowed, 'allow');
    const allowedReport = JSON.stringify((await reportAbout('allowme7')).embeds);
    expect(allowedReport).not.toContain('isolate-node` AWS not configured');
    expect(allowedReport).toMatch(/allow/);
  });

  it('refuses a webhook post without the shared secret (401) and one that is not JSON (400), and writes nothing', async () => {
    const before = await readdir(join(h.dataDir, 'intake', 'pending')).catch(() => []);
    expect((await h.post(reverseShell('198.51.100.202'), { token: null })).status).toBe(401);
    expect((await h.post(reverseShell('198.51.100.202'), { token: 'wrong-secret-of-some-length-000000000' })).status).toBe(401);
    expect((await h.post('{not json')).status).toBe(400);
    expect(await readdir(join(h.dataDir, 'intake', 'pending')).catch(() => [])).toEqual(before);
  });
});

describe('embedded mode: an approval nobody answers', () => {
  it('applies the configured default decision (block) after the timeout', async () => {
    await h.stop();
    await h.start({ SENTINEL_APPROVAL_DEFAULT_DECISION: 'block' }, { approvalTimeoutSeconds: 4 });
    try {
      expect((await h.post(artifactExec('nobodyanswers7'))).status).toBe(202);
      await approvalFor('nobodyanswers7');
      const report = JSON.stringify((await reportAbout('nobodyanswers7', 120_000)).embeds);
      expect(report).toMatch(/isolate-node.{0,80}AWS not configured/);
      expect(report).toMatch(/timeout/);
    } finally {
      await h.stop();
      await h.start({ SENTINEL_APPROVAL_DEFAULT_DECISION: 'allow' });
    }
  });
});

describe('embedded mode across a crash', () => {
  it('after SIGKILL with an approval pending and an event accepted but not processed, the click resumes the playbook and the event is processed once', async () => {
    await h.stop();
    const child = h.startProcess({ SENTINEL_APPROVAL_DEFAULT_DECISION: 'allow' });
    const listening = await child.waitForOutput((l) => l.includes('taking messages'), 90_000);
    const webhookUrl = (JSON.parse(listening) as { webhookUrl: string }).webhookUrl;
    const post = (event: unknown) => h.post(event, { url: `${webhookUrl}/falco` });

    expect((await post(artifactExec('crashpending7'))).status).toBe(202);
    const pending = await approvalFor('crashpending7');

    // Discord fails every new post: the next event is accepted (202) but cannot be handled yet.
    const outage = h.discord.injectServerError({ method: 'POST', path: `/channels/${h.channelId}/messages`, status: 500, times: 1000 });
    expect((await post(reverseShell('198.51.100.203'))).status).toBe(202);
    await waitFor(async () => (outage.hits > 0 ? true : undefined), { timeoutMs: 60_000, what: 'the handler to try posting' });
    await child.kill();
    h.discord.clearInjections();

    await h.start({ SENTINEL_APPROVAL_DEFAULT_DECISION: 'allow' });
    await click(pending, 'block');
    expect(JSON.stringify((await reportAbout('crashpending7', 120_000)).embeds)).toMatch(/isolate-node.{0,80}AWS not configured/);
    await reportAbout('198.51.100.203', 120_000);
    // Processed once: one incident message for the event, however often it was tried.
    const about = h.discord.calls((c) => c.method === 'POST' && c.route === '/channels/:channel_id/messages' && c.status === 200 && JSON.stringify(c.body).includes('198.51.100.203'));
    expect(about).toHaveLength(1);
  });
});
