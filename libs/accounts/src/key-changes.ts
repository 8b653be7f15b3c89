import { publishCore, subscribeCore, SUBJECTS, type Bus } from '@aigc/bus';
import { ApiKeyChanged, KeyChangeKind } from '@aigc/proto';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Announces a key or tenant change on `aigc.keys.changed` (proto3 JSON of {@link ApiKeyChanged}),
 * so every gateway drops what it cached. Core NATS is at-most-once: a gateway that was
 * disconnected misses the message, which is why admission (Reserve) also checks revocation in the
 * database; the broadcast is what makes authentication caches honour it within a second.
 */
export function publishKeyChange(bus: Bus, change: Partial<ApiKeyChanged>): ApiKeyChanged {
  const message = ApiKeyChanged.fromPartial({ changedAtMs: Date.now(), ...change });
  publishCore(bus, SUBJECTS.keysChanged.name, encoder.encode(JSON.stringify(ApiKeyChanged.toJSON(message))), {
    'aigc-key-id': message.keyId,
    'aigc-tenant-id': message.tenantId,
  });
  return message;
}

/** Decodes a broadcast; tolerant of the first release's `{ keyId, revoked }` shape. */
export function decodeKeyChange(data: Uint8Array): ApiKeyChanged {
  return ApiKeyChanged.fromJSON(JSON.parse(decoder.decode(data)));
}

/**
 * What a gateway replica keeps from the broadcast: the set of revoked keys and a callback per
 * change (evict the key, or every key of a tenant when `keyId` is empty). One per replica.
 */
export class KeyChangeWatcher {
  private readonly revoked = new Set<string>();
  private subscription: ReturnType<typeof subscribeCore> | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly onChange: (change: ApiKeyChanged) => void = () => undefined,
  ) {}

  /** Subscribes; resolves once the server has registered the subscription. */
  async start(): Promise<this> {
    this.subscription = subscribeCore(this.bus, SUBJECTS.keysChanged.name, (msg) => {
      const change = decodeKeyChange(msg.data);
      if (change.revoked || change.kind === KeyChangeKind.KEY_CHANGE_KIND_REVOKED) this.revoked.add(change.keyId);
      this.onChange(change);
    });
    await this.bus.nc.flush();
    return this;
  }

  /** True once a revocation of `keyId` has been heard. */
  isRevoked(keyId: string): boolean {
    return this.revoked.has(keyId);
  }

  stop(): void {
    this.subscription?.unsubscribe();
  }
}
