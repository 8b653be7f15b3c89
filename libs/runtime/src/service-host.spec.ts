import { credentials, loadPackageDefinition, makeGenericClientConstructor, Metadata, status, type Client } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GenerateResponse, TextServiceClient, TextServiceService, type GenerateRequest, type GenerateStreamResponse } from '@aigc/proto';
import { callServerStream, callUnary, createClient, createLogger, invalidArgument, ServiceError, ServiceHost, type CallContext } from './index.js';

const hosts: ServiceHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.shutdown()));
});

type Behaviour = (request: GenerateRequest, ctx: CallContext) => Promise<GenerateResponse>;

/** A TextService whose Generate does whatever the prompt names; enough to exercise the host. */
async function startHost(behaviour: Behaviour, options: { shutdownGraceMs?: number } = {}) {
  const lines: string[] = [];
  const host = new ServiceHost({
    name: 'spec',
    host: '127.0.0.1',
    port: 0,
    metricsPort: 0,
    logger: createLogger({ level: 'debug', sink: (line) => lines.push(line) }),
    shutdownGraceMs: options.shutdownGraceMs ?? 5_000,
  });
  host.addService(TextServiceService, {
    generate: behaviour,
    async *generateStream(request) {
      for (let i = 0; i < 3; i++) yield { delta: `${request.prompt}${i}`, logprobs: [], finishReason: 0, usage: undefined };
    },
    embed: async () => ({ model: 'm', embeddings: [], usage: undefined }),
    listModels: async () => ({ models: [] }),
  });
  await host.start();
  hosts.push(host);
  const client = createClient(TextServiceClient, host.address);
  return { host, client, lines };
}

const request = (prompt: string): GenerateRequest => ({ model: 'm', prompt, sampling: undefined, priority: 0, reservationId: '' });
const echo: Behaviour = async (req, ctx) => GenerateResponse.fromPartial({ text: `${req.prompt}:${ctx.requestId}` });

function healthStatus(address: string, service = ''): Promise<string> {
  const Health = makeGenericClientConstructor(healthService, 'grpc.health.v1.Health');
  const client = new Health(address, credentials.createInsecure()) as Client & Record<string, Function>;
  return new Promise((resolve, reject) =>
    client.check({ service }, (err: Error | null, res: { status: string }) => {
      client.close();
      err ? reject(err) : resolve(res.status);
    }),
  );
}

describe('ServiceHost', () => {
  it('serves async unary and streaming handlers and reports SERVING', async () => {
    const { host, client } = await startHost(echo);
    const metadata = new Metadata();
    metadata.set('x-request-id', 'req-42');
    const res = await callUnary(client, 'generate', request('hi'), { metadata });
    expect(res.text).toBe('hi:req-42');
    const chunks: string[] = [];
    for await (const chunk of callServerStream(client, 'generateStream', request('s'))) chunks.push(chunk.delta);
    expect(chunks).toEqual(['s0', 's1', 's2']);
    expect(await healthStatus(host.address)).toBe('SERVING');
    expect(await healthStatus(host.address, 'aigc.v1.TextService')).toBe('SERVING');
    const metrics = await (await fetch(`http://127.0.0.1:${host.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/grpc_server_handled_total\{[^}]*grpc_method="Generate"[^}]*grpc_code="OK"[^}]*\} 1/);
    client.close();
  });

  it('maps ServiceErrors to their code and hides unknown errors behind INTERNAL', async () => {
    const { client, lines } = await startHost(async (req) => {
      if (req.prompt === 'bad') throw invalidArgument('prompt must not be "bad"');
      throw new Error('secret database password leaked');
    });
    await expect(callUnary(client, 'generate', request('bad'))).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, message: 'prompt must not be "bad"' });
    const internal = await callUnary(client, 'generate', request('boom')).catch((e: unknown) => e as ServiceError);
    expect(internal).toMatchObject({ code: status.INTERNAL, message: 'internal error' });
    expect(lines.some((l) => l.includes('secret database password leaked'))).toBe(true);
    client.close();
  });

  it('sends the handler trailers with the status, on success and on error', async () => {
    const { client } = await startHost(async (req, ctx) => {
      ctx.trailers.set('x-spec-timing', `work;dur=${req.prompt.length}`);
      if (req.prompt === 'bad') throw invalidArgument('bad prompt');
      return GenerateResponse.fromPartial({ text: 'ok' });
    });
    const trailerOf = (prompt: string) =>
      new Promise<{ code: number; value: unknown }>((resolve) => {
        const call = client.generate(request(prompt), () => undefined);
        call.on('status', (s) => resolve({ code: s.code, value: s.metadata.get('x-spec-timing')[0] }));
      });
    expect(await trailerOf('good')).toEqual({ code: status.OK, value: 'work;dur=4' });
    expect(await trailerOf('bad')).toEqual({ code: status.INVALID_ARGUMENT, value: 'work;dur=3' });
    client.close();
  });

  it('fires the handler signal at the deadline and returns DEADLINE_EXCEEDED', async () => {
    let reason: unknown;
    const { client } = await startHost(
      (_req, ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            reject(ctx.signal.reason);
          }),
        ),
    );
    const err = await callUnary(client, 'generate', request('slow'), { deadline: new Date(Date.now() + 150) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.DEADLINE_EXCEEDED });
    await new Promise((r) => setTimeout(r, 100));
    expect(reason).toBeInstanceOf(ServiceError);
    expect((reason as ServiceError).code).toBe(status.DEADLINE_EXCEEDED);
    client.close();
  });

  it('fires the handler signal with CANCELLED when the client cancels', async () => {
    let seen: ServiceError | undefined;
    const { client } = await startHost(
      (_req, ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => {
            seen = ctx.signal.reason as ServiceError;
            reject(seen);
          }),
        ),
    );
    const controller = new AbortController();
    const pending = callUnary(client, 'generate', request('wait'), { signal: controller.signal });
    setTimeout(() => controller.abort(new ServiceError(status.CANCELLED, 'user left')), 100);
    await expect(pending).rejects.toMatchObject({ code: status.CANCELLED });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen?.code).toBe(status.CANCELLED);
    client.close();
  });

  it('lets an in-flight call finish on shutdown, then refuses new calls', async () => {
    let release!: () => void;
    const started = new Promise<void>((r) => (release = r));
    const { host, client } = await startHost(async (req) => {
      release();
      await new Promise((r) => setTimeout(r, 300));
      return GenerateResponse.fromPartial({ text: `done ${req.prompt}` });
    });
    const inflight = callUnary(client, 'generate', request('x'));
    await started;
    const stopped = host.shutdown('test');
    expect(host.state).toBe('draining');
    expect((await inflight).text).toBe('done x');
    await stopped;
    expect(host.state).toBe('stopped');
    await expect(callUnary(client, 'generate', request('late'), { deadline: new Date(Date.now() + 1000) })).rejects.toMatchObject({
      code: expect.toSatisfy((c: number) => c === status.UNAVAILABLE || c === status.DEADLINE_EXCEEDED),
    });
    client.close();
  });

  it('cancels calls that outlive the grace period with UNAVAILABLE', async () => {
    const { host, client } = await startHost((_req, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))), {
      shutdownGraceMs: 200,
    });
    const inflight = callUnary(client, 'generate', request('forever')).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await host.shutdown('test');
    expect(await inflight).toMatchObject({ code: status.UNAVAILABLE });
    client.close();
  });

  it('answers server reflection with the platform services', async () => {
    const { host } = await startHost(echo);
    const require = createRequire(import.meta.url);
    const reflectionDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
    const def = loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [reflectionDir] });
    const pkg = loadPackageDefinition(def) as any;
    const client = new pkg.grpc.reflection.v1.ServerReflection(host.address, credentials.createInsecure());
    const call = client.ServerReflectionInfo();
    const names = await new Promise<string[]>((resolve, reject) => {
      call.on('data', (res: any) => resolve(res.listServicesResponse.service.map((s: any) => s.name)));
      call.on('error', reject);
      call.write({ listServices: '' });
    });
    call.end();
    client.close();
    expect(names).toEqual(expect.arrayContaining(['aigc.v1.TextService', 'inference.GRPCInferenceService', 'grpc.health.v1.Health']));
  });
});
