import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, startPlatform, waitForGrpcServing, type Platform } from '@aigc/testing';
import { createKey, metricValue } from './clients.js';

const harness = createHarness();
const dataDir = mkdtempSync(join(tmpdir(), 'aigc-fuzz-'));
let platform: Platform;
let secret: string;

beforeAll(async () => {
  platform = await startPlatform(harness, { dataDir, logLevel: 'error' });
  secret = (await createKey(platform.services.billing.address)).secret;
});
afterAll(async () => {
  await harness.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A small seeded PRNG so a failing case can be replayed. */
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  return { next, pick };
}

const WEIRD: unknown[] = [null, true, false, 0, -1, 1e308, -1e308, 3.5, 2 ** 53 + 1, '', 'x', '\u0000', '\ud800', '🙂'.repeat(100), [], [1, 'a'], {}, { a: { b: {} } }, 'NaN', '1e999'];
const FIELDS = ['model', 'messages', 'prompt', 'input', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'n', 'stop', 'seed', 'stream', 'stream_options', 'logprobs', 'top_logprobs', 'presence_penalty', 'frequency_penalty', 'encoding_format', 'size', 'response_format', 'voice', 'speed'];
const PATHS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/images/generations', '/v1/audio/speech', '/v1/moderations', '/v1/models', '/v1/models/%E0%A4%A', '/v1/../etc/passwd', '/', '/v2/chat', '/v1/chat/completions/extra'];

interface Case {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

function malformed(random: ReturnType<typeof prng>): Case {
  const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${secret}` };
  const kind = Math.floor(random.next() * 10);
  let body: Buffer;
  switch (kind) {
    case 0:
      body = Buffer.from(random.pick(['{', '{"model":', '[1,2', 'nul', '{"a":1,}', "{'a':1}", '"just a string"', '42', 'null', '[]']));
      break;
    case 1:
      body = Buffer.from([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]); // invalid UTF-8 inside a string
      break;
    case 2:
      headers['content-type'] = random.pick(['text/plain', 'application/x-www-form-urlencoded', '', 'application/jsonx']);
      body = Buffer.from('{"model":"m"}');
      break;
    case 3:
      if (random.next() < 0.5) delete headers.authorization;
      else headers.authorization = random.pick(['Bearer', 'Basic Zm9v', `Bearer ${'x'.repeat(5000)}`, 'bearer  ', `Bearer ${secret}x`]);
      body = Buffer.from('{"model":"fortunes-gpt","messages":[{"role":"user","content":"x"}]}');
      break;
    case 4:
      body = Buffer.from('['.repeat(5000) + ']'.repeat(5000));
      break;
    default: {
      const obj: Record<string, unknown> = { model: 'fortunes-gpt', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 };
      for (let i = 0; i < 1 + Math.floor(random.next() * 4); i++) obj[random.pick(FIELDS)] = random.pick(WEIRD);
      if (random.next() < 0.2) obj.messages = [{ role: random.pick(WEIRD), content: random.pick(WEIRD) }];
      // Make sure it is malformed: at least one field with a wrong type.
      obj[random.pick(['temperature', 'max_tokens', 'messages', 'n', 'top_p'])] = random.pick([{}, [], 'str', -5, 1e9]);
      body = Buffer.from(JSON.stringify(obj));
    }
  }
  const method = random.next() < 0.05 ? random.pick(['PUT', 'DELETE', 'PATCH', 'GET']) : 'POST';
  // Field-level garbage goes where those fields are read; envelope-level garbage goes anywhere.
  const path = kind >= 5 ? random.pick(['/v1/chat/completions', '/v1/completions']) : random.pick(PATHS);
  return { method, path, headers, body };
}

function send(base: URL, c: Case): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: base.hostname, port: base.port, method: c.method, path: c.path, headers: { ...c.headers, 'content-length': String(c.body.length) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(c.body);
  });
}

describe('gateway under malformed input', () => {
  it('answers thousands of malformed requests with 4xx, stays up, and keeps memory flat', async () => {
    const base = new URL(platform.openaiBaseUrl);
    const random = prng(20261130);
    const run = async (count: number) => {
      const statuses = new Map<number, number>();
      const failures: string[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < count) {
            next++;
            const c = malformed(random);
            const status = await send(base, c);
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
            if (status >= 500) failures.push(`${status} ${c.method} ${c.path} ${c.body.subarray(0, 120).toString('latin1')}`);
          }
        }),
      );
      return { statuses, failures };
    };
    const rss = () => metricValue(platform.metricsUrl('gateway'), 'process_resident_memory_bytes', {});
    await run(500); // warm up: JIT, pools, caches
    const before = await rss();
    const { statuses, failures } = await run(4000);
    // One oversized body (above the 2 MiB limit) is refused without being read.
    const big = await send(base, { method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body: Buffer.alloc(3 * 1024 * 1024, 0x20) });
    const after = await rss();

    expect(failures.slice(0, 5)).toEqual([]);
    expect(big).toBe(413);
    expect([...statuses.keys()].every((s) => s >= 200 && s < 500)).toBe(true);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(1000);
    await waitForGrpcServing(platform.services.gateway.address, { timeoutMs: 2_000 });
    expect(platform.services.gateway.process.exit).toBeUndefined();
    // Flat: a leak of even 1 KiB per request would add ~4 MiB; allow GC noise on top.
    expect(after - before).toBeLessThan(48 * 1024 * 1024);
  });
});
