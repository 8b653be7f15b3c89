import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, provision, type Bus } from '@aigc/bus';
import { billingConfigSpec, startBillingService } from '@aigc/billing';
import { gatewayConfigSpec, startGatewayService } from '@aigc/gateway';
import { UsageMeter } from '@aigc/metering';
import { moderationConfigSpec, startModerationService } from '@aigc/moderation';
import { orchestratorConfigSpec, startOrchestratorService } from '@aigc/orchestrator';
import { callUnary, loadConfig, silentLogger, type ServiceHost } from '@aigc/runtime';
import { InMemorySpanExporter, initTelemetry, SimpleSpanProcessor } from '@aigc/telemetry';
import { createHarness, waitFor } from '@aigc/testing';
import { startTextService, textConfigSpec } from '@aigc/text';
import { completion, createKey, gatewayClient, publicMetadata } from './clients.js';

// The services run in this process so that one in-memory exporter sees every span they make.
const exporter = new InMemorySpanExporter();
const telemetry = initTelemetry({ serviceName: 'integration', spanProcessors: [new SimpleSpanProcessor(exporter)] });
const harness = createHarness();
const hosts: ServiceHost[] = [];
let bus: Bus;
let gatewayAddress: string;
let secret: string;

beforeAll(async () => {
  const nats = await harness.nats();
  bus = await connectBus({ servers: nats.url, name: 'tracing-spec' });
  await provision(bus);
  const base = { GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', NATS_URL: nats.url };
  const deps = { logger: silentLogger, metricsPort: null };
  const billing = await startBillingService(loadConfig(billingConfigSpec, { ...base, BILLING_DB: ':memory:', BILLING_HTTP_PORT: '0' }), { ...deps, bus });
  const text = await startTextService(loadConfig(textConfigSpec, base), { ...deps, meter: new UsageMeter(bus, 'text') });
  const moderation = await startModerationService(loadConfig(moderationConfigSpec, base), { ...deps, bus });
  const orchestrator = await startOrchestratorService(loadConfig(orchestratorConfigSpec, { ...base, TEXT_ADDR: text.address, MODERATION_ADDR: moderation.address }), deps);
  const gateway = await startGatewayService(
    loadConfig(gatewayConfigSpec, { ...base, GATEWAY_HTTP_PORT: '0', ORCHESTRATOR_ADDR: orchestrator.address, BILLING_ADDR: billing.address, MODERATION_ADDR: moderation.address }),
    { ...deps, bus },
  );
  hosts.push(gateway, orchestrator, moderation, text, billing);
  gatewayAddress = gateway.address;
  secret = (await createKey(billing.address)).secret;
});

afterAll(async () => {
  for (const host of hosts) await host.shutdown();
  await harness.close();
  await telemetry.shutdown();
});

describe('tracing', () => {
  it('puts the spans of gateway, orchestrator, text and the billing ledger under one trace id', async () => {
    exporter.reset();
    const gateway = gatewayClient(gatewayAddress);
    await callUnary(gateway, 'complete', completion('The ', 8), { metadata: publicMetadata(secret, { 'x-request-id': 'traced-1' }) });
    gateway.close();

    const root = await waitFor(() => exporter.getFinishedSpans().find((s) => s.name === 'aigc.v1.GatewayService/Complete'), {
      timeoutMs: 5_000,
    });
    const traceId = root.spanContext().traceId;
    const inTrace = () => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    // The ledger consumer finishes after the response; wait for its span too.
    await waitFor(() => inTrace().some((s) => s.kind === SpanKind.CONSUMER), { timeoutMs: 10_000, message: 'no ledger span in the trace' });

    const spans = inTrace();
    const server = (name: string) => spans.find((s) => s.name === name && s.kind === SpanKind.SERVER);
    const gatewaySpan = server('aigc.v1.GatewayService/Complete');
    const orchestratorSpan = server('aigc.v1.OrchestratorService/Complete');
    const textSpan = server('aigc.v1.TextService/Generate');
    expect(gatewaySpan?.instrumentationScope.name).toBe('@aigc/gateway');
    expect(orchestratorSpan?.instrumentationScope.name).toBe('@aigc/orchestrator');
    expect(textSpan?.instrumentationScope.name).toBe('@aigc/text');

    // Each hop's server span is a child of its caller's client span, itself a child of the caller's server span.
    const parentOf = (span: typeof textSpan) => spans.find((s) => s.spanContext().spanId === span?.parentSpanContext?.spanId);
    const client = (span: typeof textSpan) => {
      const parent = parentOf(span);
      expect(parent?.kind).toBe(SpanKind.CLIENT);
      expect(parent?.name).toBe(span?.name);
      return parent;
    };
    // The test's own call is the root.
    expect(client(gatewaySpan)?.parentSpanContext).toBeUndefined();
    expect(parentOf(client(orchestratorSpan))).toBe(gatewaySpan);
    expect(parentOf(client(textSpan))).toBe(orchestratorSpan);
    // Admission is part of the same trace: authentication, the input pre-filter, the reservation and its settlement.
    for (const name of ['aigc.v1.BillingService/Authenticate', 'aigc.v1.ModerationService/Check', 'aigc.v1.BillingService/Reserve', 'aigc.v1.BillingService/Settle']) {
      expect(server(name), name).toBeDefined();
    }
    // And so is the usage event's trip through JetStream into the ledger.
    const ledger = spans.find((s) => s.kind === SpanKind.CONSUMER);
    expect(ledger?.name).toContain('aigc.usage.text');
  });
});
