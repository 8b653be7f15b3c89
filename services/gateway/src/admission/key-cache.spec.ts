import { describe, expect, it } from 'vitest';
import { KeyCache } from './key-cache.js';

const caller = (tenantId: string, apiKeyId: string) => ({ tenantId, apiKeyId, requestsPerMinute: 0, tokensPerMinute: 0 });

describe('KeyCache', () => {
  it('keeps an authenticated key until its TTL passes', () => {
    let now = 0;
    const cache = new KeyCache(1_000, 10, () => now);
    cache.set('sk-a', caller('t1', 'k1'));
    expect(cache.get('sk-a')?.apiKeyId).toBe('k1');
    expect(cache.get('sk-b')).toBeUndefined();
    now = 1_000;
    expect(cache.get('sk-a')).toBeUndefined();
  });

  it('drops a key, or all keys of a tenant, on a change broadcast', () => {
    const cache = new KeyCache(60_000);
    cache.set('sk-a', caller('t1', 'k1'));
    cache.set('sk-b', caller('t1', 'k2'));
    cache.set('sk-c', caller('t2', 'k3'));
    cache.evict({ keyId: 'k1', tenantId: 't1' });
    expect([cache.get('sk-a'), cache.get('sk-b')?.apiKeyId]).toEqual([undefined, 'k2']);
    cache.evict({ keyId: '', tenantId: 't1' });
    expect(cache.get('sk-b')).toBeUndefined();
    expect(cache.get('sk-c')?.apiKeyId).toBe('k3');
  });

  it('stays bounded and caches nothing with a zero TTL', () => {
    const bounded = new KeyCache(60_000, 2);
    for (const s of ['a', 'b', 'c']) bounded.set(s, caller('t', s));
    expect(bounded.size).toBe(2);
    const off = new KeyCache(0);
    off.set('sk-a', caller('t1', 'k1'));
    expect(off.get('sk-a')).toBeUndefined();
  });
});
