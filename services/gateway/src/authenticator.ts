import type { BillingServiceClient, Limits } from '@aigc/proto';
import { callUnary, ServiceError, Status } from '@aigc/runtime';
import type { KeyCache } from './admission/key-cache.js';

/** Who is calling, as billing knows them, with the rate limits that bind them. */
export interface Caller {
  tenantId: string;
  apiKeyId: string;
  /** The tighter of the key's and the tenant's limit; 0 when neither sets one. */
  requestsPerMinute: number;
  tokensPerMinute: number;
}

const tighter = (a = 0, b = 0): number => (a === 0 ? b : b === 0 ? a : Math.min(a, b));

/**
 * Resolves the `authorization: Bearer <key>` of a public call to its tenant and key by asking
 * billing (or a short-lived cache that billing's key-change broadcast clears). Anything else a
 * client put in platform metadata is ignored: the tenant comes only from here.
 */
export class Authenticator {
  constructor(
    private readonly billing: BillingServiceClient,
    private readonly cache?: KeyCache,
  ) {}

  /** Resolves an `authorization` header value (gRPC metadata or HTTP header). */
  async authenticate(authorization: string | undefined, options: { signal?: AbortSignal; deadline?: Date } = {}): Promise<Caller> {
    const match = /^Bearer\s+(\S+)$/i.exec((authorization ?? '').trim());
    if (!match) throw new ServiceError(Status.UNAUTHENTICATED, 'missing API key: send "authorization: Bearer <key>"');
    const secret = match[1]!;
    const cached = this.cache?.get(secret);
    if (cached) return cached;
    const res = await callUnary(this.billing, 'authenticate', { secret }, options);
    if (!res.key || !res.tenant) throw new ServiceError(Status.UNAUTHENTICATED, 'invalid API key');
    const limits: Array<Limits | undefined> = [res.key.limits, res.tenant.limits];
    const caller: Caller = {
      tenantId: res.tenant.id,
      apiKeyId: res.key.id,
      requestsPerMinute: tighter(limits[0]?.requestsPerMinute, limits[1]?.requestsPerMinute),
      tokensPerMinute: tighter(limits[0]?.tokensPerMinute, limits[1]?.tokensPerMinute),
    };
    this.cache?.set(secret, caller);
    return caller;
  }
}
