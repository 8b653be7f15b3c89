import { Metadata } from '@grpc/grpc-js';
import { BillingServiceClient, GatewayServiceClient, Limits, type CompleteRequest } from '@aigc/proto';
import { callUnary, createClient } from '@aigc/runtime';

/** The generative model the text service serves by default. */
export const TEXT_MODEL = 'fortunes-gpt';

/** Creates a tenant and an API key through billing's admin API; returns the secret. */
export async function createKey(
  billingAddress: string,
  tenantName = 'acme',
  keyLimits?: Partial<Limits>,
): Promise<{ tenantId: string; keyId: string; secret: string }> {
  const billing = createClient(BillingServiceClient, billingAddress);
  try {
    const tenant = await callUnary(billing, 'createTenant', { name: tenantName, limits: undefined });
    const created = await callUnary(billing, 'createApiKey', { tenantId: tenant.id, name: 'integration', limits: keyLimits ? Limits.fromPartial(keyLimits) : undefined });
    return { tenantId: tenant.id, keyId: created.key!.id, secret: created.secret };
  } finally {
    billing.close();
  }
}

/** Metadata of a public call: the API key, a request id, and anything extra. */
export function publicMetadata(secret: string, extra: Record<string, string> = {}): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${secret}`);
  for (const [k, v] of Object.entries(extra)) metadata.set(k, v);
  return metadata;
}

/** A completion request with explicit sampling. */
export function completion(prompt: string, maxTokens: number, seed = 7): CompleteRequest {
  return {
    model: TEXT_MODEL,
    prompt,
    priority: 0,
    // ignore_eos: usage assertions count exactly max_tokens tokens, wherever the model would end its text.
    sampling: { maxTokens, temperature: 0.8, seed, ignoreEos: true, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [] },
  };
}

/** A gateway client. */
export const gatewayClient = (address: string): GatewayServiceClient => createClient(GatewayServiceClient, address);

/** The value of one labelled sample in a Prometheus text exposition, or 0. */
export async function metricValue(url: string, name: string, labels: Record<string, string>): Promise<number> {
  const body = await (await fetch(url)).text();
  for (const line of body.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.split(' ').pop());
  }
  return 0;
}
