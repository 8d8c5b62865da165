import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  bundledAwsIpRanges,
  indexAwsIpRanges,
  parseAwsIpRanges,
  type AwsIpRanges,
  type AwsIpRangesDocument,
  type AwsIpRangesSource,
} from '../pipeline/net/awsIpRanges.js';
import { ensureDir, isErrno, writeFileAtomic } from '../stores/storeIo.js';

/** The largest ip-ranges.json accepted (AWS's is about 3 MB). */
export const MAX_AWS_IP_RANGES_BYTES = 32 * 1024 * 1024;

export interface AwsIpRangesHolderOptions {
  /** ip-ranges.json services whose addresses stay blockable (SENTINEL_AWS_IP_RANGES_BLOCKABLE_SERVICES). */
  blockableServices: readonly string[];
  /** Where the last good fetched copy is kept across restarts (in SENTINEL_DATA_DIR); none when absent. */
  cacheFile?: string;
  logger: Logger;
  /** Node's fetch by default. */
  fetch?: typeof fetch;
  /** Per-request timeout; default 30 s. */
  timeoutMs?: number;
}

export type RefreshOutcome =
  /** A newer copy is in use now. */
  | { outcome: 'updated'; syncToken: string; previous: string }
  /** The published copy is the one in use. */
  | { outcome: 'unchanged'; syncToken: string }
  /** Fetched, but not used: invalid, older, or much smaller than the copy in use. The last good copy stays. */
  | { outcome: 'rejected'; reason: string; syncToken: string }
  /** Not fetched (network, HTTP status, size). The last good copy stays. */
  | { outcome: 'failed'; reason: string; syncToken: string };

/**
 * AWS's published ranges as the bot keeps them: the bundled copy first, then the last good copy
 * cached in the data directory, then whatever a refresh fetches, each only when it is valid,
 * newer (syncToken) and not drastically smaller than the copy in use. A bad or failed refresh
 * never replaces the last good copy; protection never drops to nothing.
 */
export class AwsIpRangesHolder implements AwsIpRangesSource {
  readonly #options: AwsIpRangesHolderOptions;
  #current: AwsIpRanges;

  constructor(options: AwsIpRangesHolderOptions) {
    this.#options = options;
    this.#current = bundledAwsIpRanges(options.blockableServices);
  }

  current(): AwsIpRanges {
    return this.#current;
  }

  /** Why a candidate copy may not replace the one in use; undefined when it may. */
  #refusal(doc: AwsIpRangesDocument): string | undefined {
    const current = this.#current;
    if (BigInt(doc.syncToken) < BigInt(current.syncToken)) return `its syncToken ${doc.syncToken} is older than the copy in use (${current.syncToken})`;
    const count = doc.prefixes.length + doc.ipv6_prefixes.length;
    if (count * 2 < current.prefixCount) return `it lists ${count} prefixes, less than half of the ${current.prefixCount} in use`;
    return undefined;
  }

  #use(doc: AwsIpRangesDocument, source: string): void {
    this.#current = indexAwsIpRanges(doc, { source, blockableServices: this.#options.blockableServices });
  }

  /** Takes the cached copy when it is valid and newer than the one in use. */
  async loadCache(): Promise<'loaded' | 'none' | 'rejected'> {
    const file = this.#options.cacheFile;
    if (!file) return 'none';
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return 'none';
      this.#options.logger.warn('cannot read the cached AWS ranges; using the bundled copy', { file, reason: describeError(err) });
      return 'rejected';
    }
    const parsed = parseAwsIpRanges(text);
    const refusal = parsed.ok ? (parsed.doc.syncToken === this.#current.syncToken ? 'it is the copy in use' : this.#refusal(parsed.doc)) : parsed.reason;
    if (!parsed.ok || refusal) {
      this.#options.logger.info('not using the cached AWS ranges', { file, reason: refusal });
      return 'rejected';
    }
    this.#use(parsed.doc, file);
    this.#options.logger.info('using the cached AWS ranges', { file, syncToken: parsed.doc.syncToken, createDate: parsed.doc.createDate });
    return 'loaded';
  }

  /** Fetches ip-ranges.json from `url` and uses it if it is valid, newer and not drastically smaller. */
  async refresh(url: string): Promise<RefreshOutcome> {
    const { logger } = this.#options;
    const inUse = this.#current.syncToken;
    let text: string;
    try {
      const res = await (this.#options.fetch ?? fetch)(url, { signal: AbortSignal.timeout(this.#options.timeoutMs ?? 30_000), redirect: 'error' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const declared = Number(res.headers.get('content-length') ?? '0');
      if (declared > MAX_AWS_IP_RANGES_BYTES) throw new Error(`${declared} bytes is more than ${MAX_AWS_IP_RANGES_BYTES}`);
      text = await res.text();
      if (Buffer.byteLength(text) > MAX_AWS_IP_RANGES_BYTES) throw new Error(`the body is more than ${MAX_AWS_IP_RANGES_BYTES} bytes`);
    } catch (err) {
      const reason = describeError(err);
      logger.warn('cannot fetch AWS ranges; keeping the copy in use', { url, reason, syncToken: inUse });
      return { outcome: 'failed', reason, syncToken: inUse };
    }
    const parsed = parseAwsIpRanges(text);
    if (!parsed.ok) {
      logger.warn('fetched AWS ranges are not valid; keeping the copy in use', { url, reason: parsed.reason, syncToken: inUse });
      return { outcome: 'rejected', reason: parsed.reason, syncToken: inUse };
    }
    if (parsed.doc.syncToken === inUse) return { outcome: 'unchanged', syncToken: inUse };
    const refusal = this.#refusal(parsed.doc);
    if (refusal) {
      logger.warn('fetched AWS ranges refused; keeping the copy in use', { url, reason: refusal, syncToken: inUse });
      return { outcome: 'rejected', reason: refusal, syncToken: inUse };
    }
    this.#use(parsed.doc, url);
    logger.info('AWS ranges refreshed', { url, syncToken: parsed.doc.syncToken, createDate: parsed.doc.createDate, previous: inUse });
    const cacheFile = this.#options.cacheFile;
    if (cacheFile) {
      await ensureDir(dirname(cacheFile))
        .then(() => writeFileAtomic(cacheFile, text))
        .catch((err: unknown) =>
        logger.warn('cannot cache the refreshed AWS ranges', { file: this.#options.cacheFile, reason: describeError(err) }),
      );
    }
    return { outcome: 'updated', syncToken: parsed.doc.syncToken, previous: inUse };
  }
}
