#!/usr/bin/env node
// Runs the whole platform on this machine on its default ports (see README), with data under .run/.
// Sends one demo request through the gateway and prints what a newcomer needs to try it.
// `--once` stops after the demo (used to check the quickstart itself).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { BillingServiceClient, GatewayServiceClient, Modality } from '@aigc/proto';
import { callUnary, createClient } from '@aigc/runtime';
import { createHarness, repositoryRoot, SERVICES, startPlatform } from '@aigc/testing';
import { Metadata } from '@grpc/grpc-js';

const root = repositoryRoot();
const dataDir = join(root, '.run');
mkdirSync(dataDir, { recursive: true });
const once = process.argv.includes('--once');
const harness = createHarness();

const portFree = (port) =>
  new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
  });

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping: SIGTERM to every service, then NATS ...');
  const errors = await harness.close();
  for (const err of errors) console.error(err);
  console.log('stopped.');
  process.exit(errors.length ? 1 : code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  console.log('starting nats-server and the seven services ...');
  const platform = await startPlatform(harness, {
    ports: 'default',
    dataDir,
    logLevel: process.env.LOG_LEVEL ?? 'warn',
    natsPort: (await portFree(4222)) ? 4222 : undefined,
  });
  for (const name of SERVICES) platform.services[name].process.exited.then((exit) => !stopping && console.error(`${name} exited: ${JSON.stringify(exit)}`));

  const billing = createClient(BillingServiceClient, platform.services.billing.address);
  const tenant = await callUnary(billing, 'createTenant', { name: 'demo', limits: undefined });
  const { key, secret } = await callUnary(billing, 'createApiKey', { tenantId: tenant.id, name: 'quickstart', limits: undefined });

  const gateway = createClient(GatewayServiceClient, platform.services.gateway.address);
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${secret}`);
  const models = await callUnary(gateway, 'listModels', {}, { metadata });
  const textModel = models.models.find((m) => m.modality === Modality.MODALITY_TEXT)?.id ?? '';
  const request = { model: textModel, prompt: 'The ', priority: 0, sampling: { maxTokens: 60, temperature: 0.8, seed: 42, topK: 0, presencePenalty: 0, frequencyPenalty: 0, stop: [] } };
  const res = await callUnary(gateway, 'complete', request, { metadata, deadline: new Date(Date.now() + 30_000) });
  await new Promise((r) => setTimeout(r, 500));
  const ledger = await callUnary(billing, 'listUsage', { tenantId: '', requestId: res.id, limit: 5 });
  gateway.close();
  billing.close();

  console.log(`
demo request: gateway -> orchestrator -> text (model ${res.model}, ONNX Runtime)
  prompt:      ${JSON.stringify(request.prompt)}
  completion:  ${JSON.stringify(res.text)}
  usage:       ${res.usage.promptTokens} prompt + ${res.usage.completionTokens} completion tokens, ${res.usage.computeMs.toFixed(1)} ms compute
  ledger:      ${ledger.entries.length} usage event recorded by billing for request ${res.id}

API key for tenant ${tenant.id} (${key.prefix}..., shown once): ${secret}

endpoints (gRPC, plaintext; reflection and grpc.health.v1 on each):`);
  for (const name of SERVICES) {
    const s = platform.services[name];
    console.log(`  ${name.padEnd(13)} ${s.address.padEnd(16)} metrics ${platform.metricsUrl(name)}`);
  }
  console.log(`  nats          ${platform.nats.url}
  OpenAI API    ${platform.openaiBaseUrl}
  dashboard     ${platform.dashboardUrl}

try:  curl -s ${platform.openaiBaseUrl}/chat/completions -H "authorization: Bearer ${secret}" -H 'content-type: application/json' \\
        -d '{"model":"${res.model}","messages":[{"role":"user","content":"Hi"}],"max_tokens":40}'
      grpcurl -plaintext -H "authorization: Bearer ${secret}" -d '{"prompt":"A man "}' 127.0.0.1:50051 aigc.v1.GatewayService/Complete
${once ? '' : 'Ctrl-C stops everything.'}`);
  if (once) await stop(0);
} catch (err) {
  console.error('start failed:', err);
  console.error(harness.logs().split('\n').slice(-40).join('\n'));
  await stop(1);
}
