/**
 * The client side of the gRPC rows, run as its own process (as a gateway would be), so the load
 * generator does not share the billing server's event loop:
 *
 *   tsx bench/billing/grpc-load.ts <address> <pairs> <concurrency> <key,key,...>
 *
 * Prints the measurement as one JSON line.
 */
import { BillingServiceClient, Modality } from '@aigc/proto';
import { callUnary, createClient } from '@aigc/runtime';
import { drive, usage } from './drive.js';

const [address, pairsArg, concurrencyArg, keysArg] = process.argv.slice(2);
if (!address || !pairsArg || !concurrencyArg || !keysArg) {
  process.stderr.write('usage: grpc-load.ts <address> <pairs> <concurrency> <key,key,...>\n');
  process.exit(2);
}
const pairs = Number(pairsArg);
const concurrency = Number(concurrencyArg);
const keys = keysArg.split(',');
const client = createClient(BillingServiceClient, address);
const pair = async (i: number) => {
  const r = await callUnary(client, 'reserve', { apiKeyId: keys[i % keys.length]!, requestId: `g${i}`, model: 'm', modality: Modality.MODALITY_TEXT, estimate: usage(256), ttlMs: 0 });
  await callUnary(client, 'settle', { reservationId: r.reservationId, usage: usage(100 + (i % 100)) });
};
await drive(pair, Math.min(1000, pairs / 10), concurrency); // warm-up
const measured = await drive((i) => pair(i + 1_000_000), pairs, concurrency);
client.close();
process.stdout.write(`${JSON.stringify(measured)}\n`);
