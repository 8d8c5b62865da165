/** Injected 429s and 5xx answers. */
import { createHash } from 'node:crypto';
import { faultMatches } from './match.js';
import type { InjectedFault, RateLimitInjection, ServerErrorInjection } from './types.js';

export interface FaultAnswer {
  kind: 'rate_limit' | 'server_error';
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

interface Rule {
  kind: 'rate_limit' | 'server_error';
  match: RateLimitInjection | ServerErrorInjection;
  remaining: number;
  hits: number;
  answer: (method: string, route: string) => FaultAnswer;
}

export function bucketHash(method: string, route: string): string {
  return createHash('md5').update(`${method} ${route}`).digest('hex');
}

const STATUS_TEXT: Record<number, string> = {
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export class FaultInjector {
  private readonly rules: Rule[] = [];

  private add(rule: Rule): InjectedFault {
    this.rules.push(rule);
    const rules = this.rules;
    return {
      kind: rule.kind,
      get hits() {
        return rule.hits;
      },
      get remaining() {
        return rule.remaining;
      },
      cancel() {
        const i = rules.indexOf(rule);
        if (i >= 0) rules.splice(i, 1);
        rule.remaining = 0;
      },
    };
  }

  rateLimit(options: RateLimitInjection): InjectedFault {
    const retryAfter = options.retryAfter ?? 0.05;
    const global = options.global ?? false;
    const scope = options.scope ?? (global ? 'global' : 'user');
    return this.add({
      kind: 'rate_limit',
      match: options,
      remaining: options.times ?? 1,
      hits: 0,
      answer: (method, route) => {
        const headers: Record<string, string> = {
          'retry-after': String(retryAfter),
          'x-ratelimit-scope': scope,
        };
        if (global) {
          headers['x-ratelimit-global'] = 'true';
        } else {
          headers['x-ratelimit-limit'] = '5';
          headers['x-ratelimit-remaining'] = '0';
          headers['x-ratelimit-reset'] = ((Date.now() + retryAfter * 1000) / 1000).toFixed(3);
          headers['x-ratelimit-reset-after'] = retryAfter.toFixed(3);
          headers['x-ratelimit-bucket'] = bucketHash(method, route);
        }
        return {
          kind: 'rate_limit',
          status: 429,
          body: { message: 'You are being rate limited.', retry_after: retryAfter, global },
          headers,
        };
      },
    });
  }

  serverError(options: ServerErrorInjection): InjectedFault {
    const status = options.status ?? 500;
    return this.add({
      kind: 'server_error',
      match: options,
      remaining: options.times ?? 1,
      hits: 0,
      answer: () => ({
        kind: 'server_error',
        status,
        body: { message: `${status}: ${STATUS_TEXT[status] ?? 'Server Error'}`, code: 0 },
        headers: {},
      }),
    });
  }

  /** The injected answer for this request, if a rule matches (and uses up one of its times). */
  take(method: string, path: string, route: string | null): FaultAnswer | undefined {
    for (const rule of this.rules) {
      if (rule.remaining <= 0 || !faultMatches(rule.match, method, path, route)) continue;
      rule.remaining -= 1;
      rule.hits += 1;
      if (rule.remaining <= 0) this.rules.splice(this.rules.indexOf(rule), 1);
      return rule.answer(method, route ?? path);
    }
    return undefined;
  }

  clear(): void {
    this.rules.length = 0;
  }
}
