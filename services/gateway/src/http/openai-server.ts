import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, type Registry } from 'prom-client';
import { cancelled, deadlineExceeded, type Logger } from '@aigc/runtime';
import type { RateState } from '../admission/admission.js';
import type { GatewayCore } from '../gateway-core.js';
import type { Authenticator } from '../authenticator.js';
import type { OrchestratorLink } from '../orchestrator-link.js';
import { RequestTiming } from '../request-timing.js';
import { Fields } from './fields.js';
import { embeddings, imageGenerations, models, moderations, speech } from './media-routes.js';
import { HttpError, toHttpError } from './openai-error.js';
import { readJsonBody } from './request-body.js';
import { sendJson, type RouteHandler } from './route-context.js';
import { chatCompletions, completions } from './text-routes.js';

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  name: string;
  handler: RouteHandler;
}

const ROUTES: Route[] = [
  { method: 'POST', pattern: /^\/v1\/chat\/completions$/, name: 'chat.completions', handler: chatCompletions },
  { method: 'POST', pattern: /^\/v1\/completions$/, name: 'completions', handler: completions },
  { method: 'POST', pattern: /^\/v1\/embeddings$/, name: 'embeddings', handler: embeddings },
  { method: 'POST', pattern: /^\/v1\/images\/generations$/, name: 'images.generations', handler: imageGenerations },
  { method: 'POST', pattern: /^\/v1\/audio\/speech$/, name: 'audio.speech', handler: speech },
  { method: 'POST', pattern: /^\/v1\/moderations$/, name: 'moderations', handler: moderations },
  { method: 'GET', pattern: /^\/v1\/models$/, name: 'models', handler: models },
  { method: 'GET', pattern: /^\/v1\/models\/([^/]+)$/, name: 'models.get', handler: models },
];

/** Options of the OpenAI-compatible HTTP server. */
export interface OpenAIServerOptions {
  host: string;
  port: number;
  core: GatewayCore;
  orchestrator: OrchestratorLink;
  auth: Authenticator;
  logger: Logger;
  registry: Registry;
  /** Records a finished request's phases (gateway_request_phase_seconds). */
  observePhases: (face: 'http', timing: RequestTiming) => void;
  maxBodyBytes: number;
  /** Upper bound on any request's time; also the deadline passed downstream. */
  requestTimeoutMs: number;
}

/** The running HTTP server. */
export interface OpenAIServer {
  readonly port: number;
  /** Stops accepting, lets in-flight requests finish up to `graceMs`, then closes the rest. */
  close(graceMs: number): Promise<void>;
}

/**
 * The OpenAI-compatible HTTP API. Each request: route, authenticate, parse and validate the body,
 * then one orchestrator call carrying the caller (tenant and key from billing, never from the
 * client), a deadline and a signal that fires when the client disconnects, so generation stops
 * downstream. Every error has OpenAI's shape; bad input is always a 4xx.
 */
export async function startOpenAIServer(options: OpenAIServerOptions): Promise<OpenAIServer> {
  const requests = new Counter({ name: 'gateway_http_requests_total', help: 'HTTP API requests by route and status.', labelNames: ['route', 'status'], registers: [options.registry] });
  const seconds = new Histogram({
    name: 'gateway_http_request_seconds',
    help: 'HTTP API request duration by route.',
    labelNames: ['route'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [options.registry],
  });
  let inFlight = 0;
  let onIdle: (() => void) | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    const timing = new RequestTiming();
    const requestId = headerValue(req, 'x-request-id') ?? randomUUID();
    res.setHeader('x-request-id', requestId);
    const path = (req.url ?? '/').split('?')[0]!;
    const route = ROUTES.find((r) => r.pattern.test(path) && r.method === req.method);
    const routeName = route?.name ?? 'unknown';
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(deadlineExceeded('request timed out')), options.requestTimeoutMs);
    // The response closing before we finished means the client went away: stop the work downstream.
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(cancelled('client disconnected'));
    });
    try {
      if (!route) {
        const known = ROUTES.some((r) => r.pattern.test(path));
        throw known ? new HttpError(405, `method ${req.method} is not allowed on ${path}`) : new HttpError(404, `no route for ${req.method} ${path}`, 'invalid_request_error', null, 'unknown_url');
      }
      const body = req.method === 'POST' ? await readJsonBody(req, options.maxBodyBytes) : {};
      const deadline = new Date(started + options.requestTimeoutMs);
      const caller = await timing.wait('admission', options.auth.authenticate(headerValue(req, 'authorization', 4096), { signal: controller.signal, deadline }));
      await route.handler({
        req,
        res,
        body,
        fields: new Fields(body),
        call: { caller, requestId, signal: controller.signal, deadline, timing },
        requestId,
        core: options.core,
        orchestrator: options.orchestrator,
        responseHeaders: (rate) => {
          setRateHeaders(res, rate);
          res.setHeader('server-timing', timing.header());
        },
        logger: options.logger.child({ route: routeName, request_id: requestId }),
        params: route.pattern.exec(path)!.slice(1).map(decodePathSegment),
      });
    } catch (err) {
      const error = toHttpError(err);
      if (error.status >= 500 && error.status !== 503 && error.status !== 504 && error.status !== 501) {
        options.logger.error('request failed', { route: routeName, request_id: requestId, error: err });
      }
      writeError(res, error);
    } finally {
      clearTimeout(timer);
      requests.inc({ route: routeName, status: String(res.statusCode) });
      seconds.observe({ route: routeName }, (Date.now() - started) / 1000);
      if (route) options.observePhases('http', timing);
    }
  };

  const server: Server = createServer((req, res) => {
    inFlight++;
    handle(req, res).finally(() => {
      inFlight--;
      if (inFlight === 0) onIdle?.();
    });
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = 0; // streams may be long; our own timer bounds each request
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    async close(graceMs) {
      server.close();
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([new Promise<void>((r) => (onIdle = r)), new Promise((r) => setTimeout(r, graceMs))]);
      }
      server.closeAllConnections();
    },
  };
}

function writeError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    // A stream already started: report in-band, as OpenAI does, and end it.
    if (!res.writableEnded) res.end(`data: ${JSON.stringify(error.body())}\n\n`);
    return;
  }
  const headers: Record<string, string> = {};
  if (error.retryAfterMs !== undefined) {
    headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)));
    headers['retry-after-ms'] = String(Math.ceil(error.retryAfterMs));
  }
  if (res.writable) sendJson(res, error.status, error.body(), headers);
}

/** OpenAI's `x-ratelimit-*` headers, for the limits that are set. */
function setRateHeaders(res: ServerResponse, rate: RateState): void {
  const reset = `${Math.max(0, rate.resetMs / 1000).toFixed(3).replace(/\.?0+$/, '')}s`;
  if (rate.limitRequests > 0) {
    res.setHeader('x-ratelimit-limit-requests', String(rate.limitRequests));
    res.setHeader('x-ratelimit-remaining-requests', String(Math.min(rate.remainingRequests, rate.limitRequests)));
    res.setHeader('x-ratelimit-reset-requests', reset);
  }
  if (rate.limitTokens > 0) {
    res.setHeader('x-ratelimit-limit-tokens', String(rate.limitTokens));
    res.setHeader('x-ratelimit-remaining-tokens', String(Math.min(rate.remainingTokens, rate.limitTokens)));
    res.setHeader('x-ratelimit-reset-tokens', reset);
  }
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in the path: ${JSON.stringify(segment.slice(0, 64))}`);
  }
}

function headerValue(req: IncomingMessage, name: string, maxLength = 128): string | undefined {
  const value = req.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first && first.length <= maxLength ? first : undefined;
}
