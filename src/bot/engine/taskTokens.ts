import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { createFileExclusive, isErrno } from '../../stores/storeIo.js';

/**
 * The embedded engine's task tokens. A token names one attempt of one task of one execution
 * (the execution, the task's sequence number in it, its state) and carries an HMAC under a key
 * kept in the engine's directory, so it is unguessable, yet the same token comes out again when
 * an execution is replayed after a restart: an approval the store recorded against it before the
 * crash still resumes the replayed execution.
 */

const PREFIX = 'sentinel-embedded-1';
const KEY_BYTES = 32;

export interface TaskTokenClaims {
  /** The execution name. */
  execution: string;
  /** The task's sequence number in the execution (each attempt of each task has its own). */
  seq: number;
  /** The Task state (informative; the sequence number identifies the attempt). */
  state: string;
}

const claimsSchema = z.object({ e: z.string().min(1).max(80), n: z.number().int().min(0), s: z.string().min(1).max(128) }).strict();

/** Reads `<dir>/token.key`, creating it (32 random bytes, mode 0600) on first use. */
export async function loadTokenKey(dir: string): Promise<Buffer> {
  const path = join(dir, 'token.key');
  const read = async (): Promise<Buffer | undefined> => {
    try {
      return Buffer.from((await readFile(path, 'utf8')).trim(), 'base64url');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw new ConfigError(`cannot read the embedded engine's token key ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  let key = await read();
  if (!key) {
    await createFileExclusive(path, `${randomBytes(KEY_BYTES).toString('base64url')}\n`);
    key = await read();
  }
  if (!key || key.length !== KEY_BYTES) throw new ConfigError(`the embedded engine's token key ${path} is not ${KEY_BYTES} bytes of base64url; restore it or remove it (tokens of executions in flight then stop working)`);
  return key;
}

function sign(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(`${PREFIX}.${payload}`).digest();
}

export function mintTaskToken(key: Buffer, claims: TaskTokenClaims): string {
  const payload = Buffer.from(JSON.stringify({ e: claims.execution, n: claims.seq, s: claims.state })).toString('base64url');
  return `${PREFIX}.${payload}.${sign(key, payload).toString('base64url')}`;
}

/** The claims of a token this engine minted, or undefined for anything else (malformed, forged, another key). */
export function readTaskToken(key: Buffer, token: string): TaskTokenClaims | undefined {
  if (typeof token !== 'string' || token.length > 1024) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) return undefined;
  const [, payload, signature] = parts as [string, string, string];
  const given = Buffer.from(signature, 'base64url');
  const expected = sign(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = claimsSchema.safeParse(json);
  return parsed.success ? { execution: parsed.data.e, seq: parsed.data.n, state: parsed.data.s } : undefined;
}
