/**
 * Refreshing AWS's published ranges, against a local HTTP server (this machine reaches no outside
 * host) with Node's real fetch: a valid newer copy replaces the one in use and is cached in the
 * data directory; anything bad (not JSON, not the schema, too few prefixes, older, much smaller,
 * an HTTP error) leaves the last good copy in use.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsIpRangesHolder } from '../../src/bot/refreshAwsIpRanges.js';
import { createSilentLogger } from '../../src/logger.js';
import { bundledAwsIpRangesDocument, type AwsIpRangesDocument } from '../../src/pipeline/net/awsIpRanges.js';
import { checkProtectedDestination } from '../../src/pipeline/planning/protectedDestination.js';

let server: Server;
let url: string;
let dir: string;
/** What the server answers next: a status and a body. */
let answer: { status: number; body: string } = { status: 200, body: '{}' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sentinel-ranges-'));
  server = createServer((_req, res) => {
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ip-ranges.json`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const bundled = bundledAwsIpRangesDocument();

/** The bundled document, newer, with 203.0.113.0/24 published as an S3 range. */
function newer(extra = 1): AwsIpRangesDocument {
  return {
    ...bundled,
    syncToken: String(BigInt(bundled.syncToken) + BigInt(extra)),
    createDate: '2031-01-01-00-00-00',
    prefixes: [...bundled.prefixes, { ip_prefix: '203.0.113.0/24', region: 'ap-northeast-2', service: 'S3', network_border_group: 'ap-northeast-2' }],
  };
}

const holderAt = (cacheFile: string) => new AwsIpRangesHolder({ blockableServices: ['EC2'], cacheFile, logger: createSilentLogger() });
const protectedBy = (holder: AwsIpRangesHolder, ip: string) => checkProtectedDestination(ip, { awsRanges: holder.current() });

describe('refreshing AWS ranges', () => {
  it('uses a valid newer copy, protects what it adds, caches it, and a restart picks the cache up', async () => {
    const cacheFile = join(dir, 'a', 'aws-ip-ranges.json');
    const holder = holderAt(cacheFile);
    expect(holder.current().source).toBe('bundled');
    expect(protectedBy(holder, '203.0.113.45').protected).toBe(false);

    const doc = newer();
    answer = { status: 200, body: JSON.stringify(doc) };
    expect(await holder.refresh(url)).toEqual({ outcome: 'updated', syncToken: doc.syncToken, previous: bundled.syncToken });
    expect(protectedBy(holder, '203.0.113.45').reason).toBe(`203.0.113.45 is in AWS's published range 203.0.113.0/24 (S3; ap-northeast-2), ip-ranges.json ${doc.syncToken} (${url})`);
    expect(JSON.parse(await readFile(cacheFile, 'utf8')).syncToken).toBe(doc.syncToken);
    expect(await holder.refresh(url)).toEqual({ outcome: 'unchanged', syncToken: doc.syncToken });

    const restarted = holderAt(cacheFile);
    expect(await restarted.loadCache()).toBe('loaded');
    expect(restarted.current()).toMatchObject({ syncToken: doc.syncToken, source: cacheFile });
  });

  it.each([
    ['not JSON', () => '<html>captive portal</html>', /not JSON/],
    ['not the schema', () => JSON.stringify({ ...newer(), syncToken: 'yesterday' }), /syncToken/],
    ['too few prefixes', () => JSON.stringify({ ...newer(), prefixes: newer().prefixes.slice(0, 10), ipv6_prefixes: [] }), /only 10 prefixes/],
    ['a prefix that is not a CIDR', () => JSON.stringify({ ...newer(), prefixes: [...newer().prefixes, { ip_prefix: '52.95.110.0/33', region: 'x', service: 'S3' }] }), /not an IPv4 CIDR/],
    ['claiming a huge range', () => JSON.stringify({ ...newer(), prefixes: [...newer().prefixes, { ip_prefix: '0.0.0.0/1', region: 'x', service: 'S3' }] }), /broader than any AWS range/],
    ['older than the copy in use', () => JSON.stringify({ ...newer(), syncToken: '1000' }), /older than the copy in use/],
    ['less than half the prefixes in use', () => JSON.stringify({ ...newer(), prefixes: newer().prefixes.slice(0, 3000), ipv6_prefixes: newer().ipv6_prefixes.slice(0, 2000) }), /less than half/],
  ])('keeps the last good copy when the fetched one is %s', async (_what, body, reason) => {
    const holder = holderAt(join(dir, `bad-${Math.random().toString(36).slice(2)}`, 'aws-ip-ranges.json'));
    const before = holder.current();
    answer = { status: 200, body: body() };
    const outcome = await holder.refresh(url);
    expect(outcome).toMatchObject({ outcome: 'rejected', syncToken: bundled.syncToken });
    expect(outcome.outcome === 'rejected' && outcome.reason).toMatch(reason);
    expect(holder.current()).toBe(before);
    expect(protectedBy(holder, '52.95.110.1').protected).toBe(true);
  });

  it('keeps the last good copy when the fetch fails', async () => {
    const holder = holderAt(join(dir, 'failed', 'aws-ip-ranges.json'));
    answer = { status: 503, body: 'busy' };
    expect(await holder.refresh(url)).toEqual({ outcome: 'failed', reason: 'HTTP 503', syncToken: bundled.syncToken });
    const closed = await holder.refresh('http://127.0.0.1:1/ip-ranges.json');
    expect(closed.outcome).toBe('failed');
    expect(holder.current().source).toBe('bundled');
  });

  it('ignores a cached copy that is broken or older than the bundled one', async () => {
    const { writeFile, mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'cache'), { recursive: true });
    const broken = join(dir, 'cache', 'broken.json');
    await writeFile(broken, '{"syncToken":');
    expect(await holderAt(broken).loadCache()).toBe('rejected');
    const older = join(dir, 'cache', 'older.json');
    await writeFile(older, JSON.stringify({ ...bundled, syncToken: '1000' }));
    const holder = holderAt(older);
    expect(await holder.loadCache()).toBe('rejected');
    expect(holder.current().source).toBe('bundled');
    expect(await holderAt(join(dir, 'cache', 'none.json')).loadCache()).toBe('none');
  });
});
