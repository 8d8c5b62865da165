/** The block registry against moto's S3 with the real SDK; a fresh bucket per test. */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destroyAwsClients, type AwsClients } from '../../../src/aws/clients.js';
import { ConflictError, ValidationError } from '../../../src/errors.js';
import {
  blockIdOf,
  blockKey,
  blockKeyFromRef,
  listAllBlocks,
  listBlocks,
  readBlock,
  recordBlock,
  removeBlockRecord,
  type BlockRecord,
  type BlockRegistry,
} from '../../../src/pipeline/blocks/blockRegistry.js';
import { captureError, createMotoClients, MOTO_REGION, uniqueName } from '../../support/aws.js';

let aws: AwsClients;
beforeAll(() => {
  aws = createMotoClients();
});
afterAll(() => destroyAwsClients(aws));

async function newRegistry(): Promise<BlockRegistry> {
  const bucket = uniqueName('registry');
  await aws.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
  return { s3: aws.s3, bucket };
}

async function keys(registry: BlockRegistry): Promise<string[]> {
  const out = await aws.s3.send(new ListObjectsV2Command({ Bucket: registry.bucket }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

async function body(registry: BlockRegistry, key: string): Promise<string> {
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: registry.bucket, Key: key }));
  return out.Body!.transformToString();
}

function block(overrides: Partial<BlockRecord> = {}): BlockRecord {
  const ip = overrides.ip ?? '203.0.113.45';
  const ipv6 = ip.includes(':');
  const port = overrides.port === undefined ? 4444 : overrides.port;
  return {
    version: 1,
    kind: 'nacl-egress-deny',
    ip,
    cidr: `${ip}/${ipv6 ? 128 : 32}`,
    ipv6,
    port,
    protocol: '6',
    portRange: { from: port ?? 0, to: port ?? 65535 },
    naclId: 'acl-0123456789abcdef0',
    ruleNumber: 1,
    vpcId: 'vpc-0123456789abcdef0',
    actor: 'discord:123456789012345678',
    reason: 'C2 beacon',
    incidentId: 'inc-1',
    createdAt: '2031-01-02T03:04:05.000Z',
    expiresAt: null,
    severity: 'high',
    ...overrides,
  };
}

describe('block registry on S3', () => {
  it('stores a record once at blocks/<ip>/<naclId>/<rule>.json and lists it back', async () => {
    const registry = await newRegistry();
    const record = block();

    const stored = await recordBlock(registry, record);

    expect(stored).toEqual({
      key: 'blocks/203.0.113.45/acl-0123456789abcdef0/1.json',
      location: `s3://${registry.bucket}/blocks/203.0.113.45/acl-0123456789abcdef0/1.json`,
      replaced: false,
    });
    expect(JSON.parse(await body(registry, stored.key))).toEqual(record);
    expect(await listBlocks(registry, '203.0.113.45')).toEqual([{ key: stored.key, location: stored.location, record }]);
  });

  it('never overwrites a record (If-None-Match) unless asked to replace a stale one', async () => {
    const registry = await newRegistry();
    const { key } = await recordBlock(registry, block({ incidentId: 'inc-first' }));

    const err = await captureError(() => recordBlock(registry, block({ incidentId: 'inc-second' })));
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('BlockRecordExists');
    expect(JSON.parse(await body(registry, key))).toMatchObject({ incidentId: 'inc-first' });

    const replaced = await recordBlock(registry, block({ incidentId: 'inc-second' }), { replace: true });
    expect(replaced.replaced).toBe(true);
    expect(JSON.parse(await body(registry, key))).toMatchObject({ incidentId: 'inc-second' });
  });

  it('lists only the IP asked for (not one it is a prefix of), sorted, and filters by exact port', async () => {
    const registry = await newRegistry();
    await recordBlock(registry, block({ ip: '203.0.113.4', ruleNumber: 9 }));
    await recordBlock(registry, block({ ruleNumber: 3, port: 443 }));
    await recordBlock(registry, block({ ruleNumber: 2, port: null }));
    await recordBlock(registry, block({ ruleNumber: 1, port: 443, naclId: 'acl-0fffffffffffffff0' }));

    const all = await listBlocks(registry, '203.0.113.45');
    expect(all.map((b) => [b.record.naclId, b.record.ruleNumber, b.record.port])).toEqual([
      ['acl-0123456789abcdef0', 2, null],
      ['acl-0123456789abcdef0', 3, 443],
      ['acl-0fffffffffffffff0', 1, 443],
    ]);
    expect((await listBlocks(registry, '203.0.113.45', 443)).map((b) => b.record.ruleNumber)).toEqual([3, 1]);
    // An all-ports block is not a block "of port 22".
    expect(await listBlocks(registry, '203.0.113.45', 22)).toEqual([]);
    expect((await listBlocks(registry, '203.0.113.4')).map((b) => b.record.ruleNumber)).toEqual([9]);
    expect(await listBlocks(registry, '203.0.113.46')).toEqual([]);
  });

  it('finds an IPv6 record however the address is written', async () => {
    const registry = await newRegistry();
    const stored = await recordBlock(registry, block({ ip: '2001:db8::7', port: null }));
    expect(stored.key).toBe('blocks/2001:db8::7/acl-0123456789abcdef0/1.json');

    for (const spelling of ['2001:db8::7', '2001:DB8::7', '2001:0db8:0:0:0:0:0:0007']) {
      expect((await listBlocks(registry, spelling)).map((b) => b.key)).toEqual([stored.key]);
    }
  });

  it('removes a record (and removing it again is fine)', async () => {
    const registry = await newRegistry();
    const keep = await recordBlock(registry, block({ ruleNumber: 2 }));
    const gone = await recordBlock(registry, block({ ruleNumber: 1 }));

    await removeBlockRecord(registry, gone.key);
    await removeBlockRecord(registry, gone.key);

    expect(await keys(registry)).toEqual([keep.key]);
    expect((await listBlocks(registry, '203.0.113.45')).map((b) => b.key)).toEqual([keep.key]);
    await expect(removeBlockRecord(registry, 'evidence/inc-1/file.bin')).rejects.toThrow(/is not a block record key/);
  });

  it('refuses to write an invalid or non-canonical record', async () => {
    const registry = await newRegistry();
    await expect(recordBlock(registry, block({ ip: '2001:DB8::7' }))).rejects.toThrow(/not in canonical form/);
    await expect(recordBlock(registry, block({ ruleNumber: 32767 }))).rejects.toThrow(ValidationError);
    await expect(recordBlock(registry, block({ actor: '' }))).rejects.toThrow(/actor/);
    await expect(recordBlock(registry, { ...block(), extra: true } as BlockRecord)).rejects.toThrow(ValidationError);
    expect(await keys(registry)).toEqual([]);
  });

  it('reports a record that is not valid, or does not match its key, instead of trusting it', async () => {
    const registry = await newRegistry();
    const broken = 'blocks/203.0.113.45/acl-0123456789abcdef0/5.json';
    await aws.s3.send(new PutObjectCommand({ Bucket: registry.bucket, Key: broken, Body: '{"version":1}' }));
    const err = await captureError(() => listBlocks(registry, '203.0.113.45'));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe('InvalidBlockRecord');
    expect(err.message).toContain(`s3://${registry.bucket}/${broken} is not a valid block record`);

    const other = await newRegistry();
    const misplaced = blockKey({ ip: '203.0.113.45', naclId: 'acl-0123456789abcdef0', ruleNumber: 6 });
    await aws.s3.send(new PutObjectCommand({ Bucket: other.bucket, Key: misplaced, Body: JSON.stringify(block({ ruleNumber: 7 })) }));
    await expect(listBlocks(other, '203.0.113.45')).rejects.toThrow(/describes 203\.0\.113\.45 rule 7 of acl-0123456789abcdef0, not what its key says/);
  });
});

describe('one block by id', () => {
  it('names a block by its key without blocks/ and .json, and finds the key back from either, in canonical form', () => {
    const key = blockKey({ ip: '2001:db8::7', naclId: 'acl-0abc1234', ruleNumber: 3 });
    expect(key).toBe('blocks/2001:db8::7/acl-0abc1234/3.json');
    expect(blockIdOf(key)).toBe('2001:db8::7/acl-0abc1234/3');
    expect(blockKeyFromRef('2001:DB8:0::7/acl-0abc1234/3')).toBe(key);
    expect(blockKeyFromRef(key)).toBe(key);
    // An IPv4-mapped address is its IPv4 address.
    expect(blockKeyFromRef('::ffff:203.0.113.7/acl-0abc1234/3')).toBe('blocks/203.0.113.7/acl-0abc1234/3.json');
  });

  it.each(['203.0.113.7', '203.0.113.7/acl-0abc1234', '203.0.113.7/sg-0abc1234/3', '203.0.113.7/acl-0abc1234/0', 'nope/acl-0abc1234/3', '../x/acl-0abc1234/3'])('refuses %j', (ref) => {
    expect(() => blockKeyFromRef(ref)).toThrow(ValidationError);
  });

  it('reads one block by key, lists every block of every IP, and reads records written before blocks had a severity', async () => {
    const registry = await newRegistry();
    const a = block({ ip: '203.0.113.45', ruleNumber: 1 });
    const b = block({ ip: '198.51.100.9', ruleNumber: 2, severity: 'low' });
    await recordBlock(registry, a);
    await recordBlock(registry, b);
    const { severity: _dropped, ...old } = block({ ip: '192.0.2.77', ruleNumber: 3 });
    await aws.s3.send(new PutObjectCommand({ Bucket: registry.bucket, Key: blockKey(old), Body: JSON.stringify(old) }));

    expect((await readBlock(registry, blockKey(a)))?.record).toEqual(a);
    expect(await readBlock(registry, blockKey({ ip: '203.0.113.46', naclId: a.naclId, ruleNumber: 9 }))).toBeUndefined();
    const all = await listAllBlocks(registry);
    expect(all.map((s) => [s.record.ip, s.record.severity])).toEqual([
      ['203.0.113.45', 'high'],
      ['198.51.100.9', 'low'],
      ['192.0.2.77', null],
    ]);
  });

  it('skips an invalid record when listing every block, and says which', async () => {
    const registry = await newRegistry();
    await recordBlock(registry, block());
    await aws.s3.send(new PutObjectCommand({ Bucket: registry.bucket, Key: 'blocks/198.51.100.1/acl-0123456789abcdef0/4.json', Body: '{"not":"a record"}' }));
    const invalid: string[] = [];
    const all = await listAllBlocks(registry, (key) => invalid.push(key));
    expect(all).toHaveLength(1);
    expect(invalid).toEqual(['blocks/198.51.100.1/acl-0123456789abcdef0/4.json']);
  });
});
