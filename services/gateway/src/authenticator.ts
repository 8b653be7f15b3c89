import type { BillingServiceClient } from '@aigc/proto';
import { callUnary, ServiceError, Status } from '@aigc/runtime';

/** Who is calling, as billing knows them. */
export interface Caller {
  tenantId: string;
  apiKeyId: string;
}

/**
 * Resolves the `authorization: Bearer <key>` of a public call to its tenant and key by asking
 * billing. Anything else a client put in platform metadata is ignored: the tenant comes
 * only from here.
 */
export class Authenticator {
  constructor(private readonly billing: BillingServiceClient) {}

  /** Resolves an `authorization` header value (gRPC metadata or HTTP header). */
  async authenticate(authorization: string | undefined, options: { signal?: AbortSignal; deadline?: Date } = {}): Promise<Caller> {
    const match = /^Bearer\s+(\S+)$/i.exec((authorization ?? '').trim());
    if (!match) throw new ServiceError(Status.UNAUTHENTICATED, 'missing API key: send "authorization: Bearer <key>"');
    const res = await callUnary(this.billing, 'authenticate', { secret: match[1]! }, options);
    if (!res.key || !res.tenant) throw new ServiceError(Status.UNAUTHENTICATED, 'invalid API key');
    return { tenantId: res.tenant.id, apiKeyId: res.key.id };
  }
}
