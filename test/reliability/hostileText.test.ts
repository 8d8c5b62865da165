/**
 * Hostile text in every field an event carries stays inert in everything posted to Discord, end to
 * end: mentions (@everyone, role and user mentions), markdown (bold, masked links, spoilers,
 * headings, quotes, fences that try to close the bot's code block), 100 KB strings, control,
 * invisible and direction-changing characters, and shell metacharacters in a file name.
 *
 * Three incidents go through the real bot: a file written with a hostile name (the file route:
 * extracted and quarantined in the pod by argv, never a shell), an ARTIFACT_EXEC whose command line
 * is 100 KB of hostile text (the approval route: posted, Block, isolated, reported), and a GuardDuty
 * finding whose title and description are hostile (notify). moto (SQS, Step Functions, EC2, S3),
 * the fake Discord (which enforces Discord's limits) and the fake Kubernetes API (which runs real
 * programs, never a shell).
 */
import type { APIMessage } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/aws.js';
import type { RecordedCall } from '../support/fakeDiscord/types.js';
import { createBotHarness, POD_CONTAINER, POD_NAMESPACE, type BotHarness } from '../helpers/botHarness.js';
import { fluentBitLine, guardDutyEvent, kv } from '../helpers/events.js';

const ROLE = '<@&666666666666666666>';
const USER = '<@777777777777777777>';
/** One line of everything that renders or pings, none of it spaced (so a key=value field keeps it whole). */
const HOSTILE_WORD = `@everyone@here${ROLE}${USER}**BOLD**__UNDER__||SPOIL||~~STRIKE~~[click](https://evil.example/x)\`\`\`CLOSE\`\`\`<t:0:R><:e:1>`;
/** With line starts that render (heading, quote, list, subtext) and the characters that hide or reorder text. */
const HOSTILE_TEXT = `${HOSTILE_WORD}\n# HEADING\n> QUOTE\n- LIST\n-# SUBTEXT\n\u0000\u0007\u001b[31mRED\u001b[0m\u202eDESREVER\u202c\u200bZW\u2066ISOLATE\u2069\u00ad\r\nCRLF\ud800LONE`;
/** A file name made of shell metacharacters (a web shell's upload name would not need to be this bad). */
const SHELL_NAME = `x$(touch\${IFS}pwned)\`id\`;|&>out<in*?![a]{b,c}~'"@everyone${ROLE}**B**.php`;
const BIG = 100 * 1024;

let h: BotHarness;
const tag = `hostile${Date.now().toString(36)}`;

beforeAll(async () => {
  h = await createBotHarness();
  await h.start();
}, 180_000);

afterAll(async () => {
  await h?.close();
});

function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) strings(v, out);
  return out;
}

/** Every call that writes a message, a thread or an interaction answer, with the payload it carried. */
function writes(): { call: RecordedCall; payload: Record<string, unknown> }[] {
  return h.discord
    .calls((c) => c.body !== undefined && c.method !== 'GET' && (c.path.startsWith('/channels/') || c.path.startsWith('/interactions/') || c.path.startsWith('/webhooks/')))
    .map((call) => {
      const body = call.body as Record<string, unknown>;
      return { call, payload: call.path.startsWith('/interactions/') ? ((body.data as Record<string, unknown>) ?? {}) : body };
    });
}

/** The text outside fenced code blocks and inline code spans (where Discord renders markdown and mentions). */
function rendered(s: string): string {
  return s.replace(/```[\s\S]*?```/g, ' ').replace(/`[^`\n]*`/g, ' ');
}

const UNESCAPED = (marker: string) => new RegExp(`(?<!\\\\)${marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);

function expectInert(s: string, where: string): void {
  // No character that hides, reorders or spoofs text (the zero-width space is sentinel's own: it
  // breaks @everyone and backtick runs), no carriage return, and no lone surrogate.
  expect(s, where).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000d\u000e-\u001f\u007f-\u009f\u00ad\u200c-\u200f\u202a-\u202e\u2066-\u2069]/);
  expect(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s), `${where}: a lone surrogate`).toBe(false);
  // @everyone / @here never as such, anywhere (a zero-width space breaks them).
  expect(s, where).not.toMatch(/@(everyone|here)/);
  // Code fences come in pairs: hostile backticks cannot close the bot's block and open their own.
  expect((s.match(/```/g) ?? []).length % 2, `${where}: an unpaired code fence`).toBe(0);
  // Where Discord renders, the hostile markup is escaped: no mention, no bold, no link, no spoiler, no heading.
  const outside = rendered(s);
  for (const marker of [ROLE, USER, '**BOLD**', '__UNDER__', '||SPOIL||', '~~STRIKE~~', '[click](https://evil.example/x)', '<t:0:R>', '<:e:1>', '**B**']) {
    expect(UNESCAPED(marker).test(outside), `${where}: ${marker} rendered`).toBe(false);
  }
  for (const line of ['# HEADING', '> QUOTE', '- LIST', '-# SUBTEXT']) {
    expect(outside.split('\n').some((l) => l.trimStart().startsWith(line)), `${where}: "${line}" starts a line`).toBe(false);
  }
}

describe('hostile text in every field', () => {
  it('stays inert in every message, edit, thread and answer posted to Discord, and the file with a shell-metacharacter name is handled by argv', { timeout: 300_000 }, async () => {
    // 1. The file route: a file whose name is shell metacharacters, mentions and markdown.
    const uploads = '/var/www/html/uploads';
    const path = `${uploads}/${SHELL_NAME}`;
    const pod = h.kube.addPod({ namespace: POD_NAMESPACE, name: `${tag}-files`, containers: [POD_CONTAINER], nodeName: h.node.name, files: { [path]: '<?php system($_GET["c"]); ?>' } });
    await h.send(
      fluentBitLine(
        `ARTIFACT_WRITE_SUSP_EXT ${kv({ reason: 'upload_write_suspicious_ext', artifact_path: path, proc: 'apache2', cmdline: 'apache2 -DFOREGROUND', user: 'www-data', container: POD_CONTAINER, container_id: '3f2a9c1b7d4e', pod: pod.name, ns: POD_NAMESPACE, node: h.node.name })}`,
        { host: h.node.name, priority: 'Warning' },
      ),
    );

    // 2. The approval route: a 100 KB command line of hostile text (and a hostile user).
    const cmdline = `${`${HOSTILE_TEXT} `.repeat(Math.ceil(BIG / (HOSTILE_TEXT.length + 1)))}`.slice(0, BIG);
    await h.send(
      fluentBitLine(
        `ARTIFACT_EXEC ${kv({ reason: 'exec_from_upload_dir', exepath: `${uploads}/${tag}`, cmdline, container: POD_CONTAINER, container_id: '3f2a9c1b7d4e', pod: `${tag}-exec`, ns: POD_NAMESPACE, node: h.node.name, user: HOSTILE_WORD })}`,
        { host: h.node.name },
      ),
    );

    // 3. Notify: a GuardDuty finding with a hostile title and a 100 KB hostile description.
    const finding = guardDutyEvent({ id: `${tag}finding`, resourceType: 'S3Bucket' });
    const gd = { ...finding, detail: { ...finding.detail, title: `${HOSTILE_TEXT} ${tag}`, description: `${HOSTILE_TEXT}\n`.repeat(Math.ceil(BIG / HOSTILE_TEXT.length)).slice(0, BIG) } };
    await h.send(gd);

    // The approval: Block it, so the decision edit and the report go out too.
    const approval = await h.waitForChannelMessage((m: APIMessage) => (m.components?.length ?? 0) > 0 && JSON.stringify(m.embeds).includes(`${tag}-exec`), 90_000);
    const customId = (approval.components![0] as { components: { custom_id: string }[] }).components[1]!.custom_id;
    const click = h.discord.clickButton({ userId: h.users.alice, messageId: approval.id, customId });
    expect((await click.waitForResponse()).type).toBe(6);
    await click.waitForEdit(undefined, 30_000);

    // Every incident reported (the file one and the approval one), and the alert posted.
    const reported = async (text: string) =>
      waitFor(async () => h.discord.messages(h.channelId).find((m) => (m.embeds[0]?.title ?? '').startsWith('Report: ') && JSON.stringify(m.embeds).includes(text)), {
        timeoutMs: 120_000,
        what: `the report about ${text}`,
      });
    await reported(`${tag}-files`);
    await reported(`${tag}-exec`);
    await waitFor(async () => h.discord.messages(h.channelId).find((m) => JSON.stringify(m.embeds).includes(tag) && JSON.stringify(m.embeds).includes('S3Bucket')), {
      timeoutMs: 60_000,
      what: 'the GuardDuty alert',
    });

    // The file was extracted and quarantined by argv: its whole name one argument, no shell anywhere.
    const execs = h.kube.execs.filter((e) => e.pod === pod.name);
    expect(execs.length).toBeGreaterThan(0);
    expect(execs.some((e) => e.argv.includes(path))).toBe(true);
    expect(execs.filter((e) => ['sh', 'bash', '/bin/sh', '/bin/bash', 'env'].includes(e.argv[0]!))).toEqual([]);
    expect(pod.exists(path)).toBe(false);
    // Nothing the name would have made in a shell (pwned, out), and the file kept under a name of safe characters.
    expect(pod.list('/').filter((f) => ['pwned', 'out'].includes(f.split('/').pop()!))).toEqual([]);
    expect(pod.list('/').filter((f) => f.includes('/quarantine_')).map((f) => f.split('/').pop())).toEqual([expect.stringMatching(/^quarantine_[0-9a-f]{12}_[A-Za-z0-9._-]+$/)]);

    // The checks below catch each piece of hostile text as it was sent (so they can fail).
    for (const raw of [ROLE, USER, '@everyone', '**BOLD**', '[click](https://evil.example/x)', '||SPOIL||', '# HEADING', '> QUOTE', '```', '\u202eX', '\u0007', '\r\n', '\ud800']) {
      expect(() => expectInert(`text ${raw} text`.replace('text # HEADING', '# HEADING').replace('text > QUOTE', '> QUOTE'), 'raw'), JSON.stringify(raw)).toThrow();
    }
    // Everything sentinel wrote to Discord: accepted (within Discord's limits), mentions off, inert.
    const all = writes();
    expect(all.length).toBeGreaterThanOrEqual(6);
    for (const { call, payload } of all) {
      const where = `${call.method} ${call.path}`;
      expect(call.status, `${where} answered ${call.status}`).toBeLessThan(400);
      if ('content' in payload || 'embeds' in payload) expect(payload.allowed_mentions, where).toEqual({ parse: [] });
      for (const s of strings(payload)) expectInert(s, where);
    }
    // The hostile text did reach Discord (shown, not dropped): the markers, escaped or in code.
    const shown = JSON.stringify(all.map((w) => w.payload));
    expect(shown).toContain('BOLD');
    expect(shown).toContain('666666666666666666');
    expect(shown).toContain('DESREVER');
    // Nothing dead-lettered on the way.
    await waitFor(async () => ((await h.queueDepth(h.queueUrl)) + (await h.queueDepth(h.controlQueueUrl)) === 0 ? true : undefined), { timeoutMs: 60_000, what: 'both queues drained' });
    expect(await h.queueDepth(h.dlqUrl)).toBe(0);
    expect(await h.queueDepth(h.controlDlqUrl)).toBe(0);
  });
});
