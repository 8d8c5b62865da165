import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, REDACTED } from '../src/logger.js';

function capture(secrets: string[] = [], format: 'json' | 'pretty' = 'json') {
  const stream = new PassThrough();
  let out = '';
  stream.on('data', (d) => (out += d));
  const logger = createLogger({ level: 'debug', format, secrets, stream });
  return { logger, text: () => out };
}

const DISCORD_TOKEN = ['MTA5ODc2NTQzMjEwOTg3NjU0Mw', 'GhIjKl', 'abcdefghijklmnopqrstuvwxyz0123456789AB'].join('.');
const TASK_TOKEN = `AQCEAAAAKgAAAAMAAAAAAAAAA${'x7Yz+/Qw'.repeat(40)}==`;
const AWS_KEY = ['AKIA', 'IOSFODNN7EXAMPLE'].join('');
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

describe('logger', () => {
  it('writes JSON lines with child ids', () => {
    const { logger, text } = capture();
    logger.child({ incidentId: 'inc-1', interactionId: 'int-2' }).info('hello', { messageId: 'm-3' });
    const line = JSON.parse(text().trim());
    expect(line).toMatchObject({ level: 'info', message: 'hello', incidentId: 'inc-1', interactionId: 'int-2', messageId: 'm-3' });
  });

  it('never writes a secret: tokens, task tokens, AWS credentials', () => {
    const { logger, text } = capture([AWS_SECRET]);
    logger.info(`connecting with ${DISCORD_TOKEN}`, {
      taskToken: TASK_TOKEN,
      body: { nested: { token: 'short-but-secret' }, message: `resume ${TASK_TOKEN}` },
      creds: { accessKeyId: AWS_KEY, secretAccessKey: AWS_SECRET },
      note: `secret is ${AWS_SECRET}`,
    });
    logger.error('failed', { error: new Error(`bad token ${DISCORD_TOKEN}`) });
    const out = text();
    for (const secret of [DISCORD_TOKEN, TASK_TOKEN, AWS_KEY, AWS_SECRET, 'short-but-secret']) expect(out).not.toContain(secret);
    expect(out).toContain(REDACTED);
  });

  it('redacts in the readable format too', () => {
    const { logger, text } = capture([], 'pretty');
    logger.warn(`token ${DISCORD_TOKEN}`, { taskToken: TASK_TOKEN });
    expect(text()).not.toContain(DISCORD_TOKEN);
    expect(text()).not.toContain(TASK_TOKEN);
    expect(text()).toMatch(/WARN/);
  });

  it('keeps S3 locations, ARNs and paths readable, however long, and still masks a token that looks like a path', () => {
    const { logger, text } = capture();
    const sha = 'a3f1'.repeat(16);
    const location = `s3://sentinel-evidence-123456789012-ap-northeast-2/evidence/inc-0123456789abcdef0123/${sha}/uploads_${'very-long-name-'.repeat(6)}shell.php`;
    const key = `evidence/inc-0123456789abcdef0123/${sha}/${'x'.repeat(80)}`;
    const arn = `arn:aws:states:ap-northeast-2:123456789012:execution:sentinel-falco-incident:falco-${sha}-mabc12`;
    const path = `/var/www/html/hackable/uploads/${'nested-directory/'.repeat(8)}shell.php`;
    const slashToken = `/${'Ab3dEf9hIjK1mNoPqRsTuVwXyZ0123456789'.repeat(4)}+/=`;
    logger.info('stored', { location, key, arn, path, note: `resume ${slashToken}` });
    const out = text();
    for (const readable of [location, key, arn, path]) expect(out).toContain(readable);
    expect(out).not.toContain(slashToken);
    expect(out).toContain(REDACTED);
  });

  it('drops a line below the level before it reaches the logger\'s stream, in children too, and follows a level changed later', () => {
    const stream = new PassThrough();
    let out = '';
    stream.on('data', (d) => (out += d));
    const logger = createLogger({ level: 'info', format: 'json', stream });
    let writes = 0;
    // A child whose writes are counted (as captureFailureReason wraps the handlers' logger).
    const counted = Object.create(logger.child({ messageId: 'm-1' }), {
      write: {
        value(info: unknown) {
          writes++;
          return logger.write(info as never);
        },
      },
    }) as typeof logger;
    counted.child({ incidentId: 'inc-1' }).debug('repeat counted', { count: 2 });
    counted.debug('repeat counted');
    expect(writes).toBe(0);
    counted.info('kept');
    expect(writes).toBe(1);
    logger.level = 'debug';
    counted.debug('now kept', { count: 3 });
    expect(writes).toBe(2);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.level, l.message])).toEqual([
      ['info', 'kept'],
      ['debug', 'now kept'],
    ]);
  });

  it('keeps ordinary text', () => {
    const { logger, text } = capture();
    logger.info('blocked 203.0.113.45:4444', { rule: 'ARTIFACT_Reverse_Shell_Suspected!' });
    expect(text()).toContain('203.0.113.45:4444');
    expect(text()).toContain('ARTIFACT_Reverse_Shell_Suspected!');
  });
});
