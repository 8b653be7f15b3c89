import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@aigc/runtime';
import type { RateState } from '../admission/admission.js';
import type { CallInfo, GatewayCore } from '../gateway-core.js';
import type { OrchestratorLink } from '../orchestrator-link.js';
import type { Fields } from './fields.js';

/** What one HTTP API call's handler gets. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The parsed JSON body (empty for GET). */
  body: Record<string, unknown>;
  fields: Fields;
  /** The authenticated caller, request id, and the signal (client disconnect, timeout) and deadline. */
  call: CallInfo;
  requestId: string;
  /** Admission and forwarding of tasks. */
  core: GatewayCore;
  /** The orchestrator, for calls that need no admission (model listing). */
  orchestrator: OrchestratorLink;
  /**
   * Sets the headers every admitted response carries, just before it is written: `x-ratelimit-*`
   * from the caller's rate state, and `server-timing` (admission, upstream, and the gateway's own
   * work so far; for a stream, up to its first byte).
   */
  responseHeaders(rate: RateState): void;
  logger: Logger;
  /** Path parameters, e.g. the model id of `/v1/models/{id}`. */
  params: string[];
}

/** A route handler: writes the response itself. */
export type RouteHandler = (ctx: RouteContext) => Promise<void>;

/** Writes a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Seconds since the epoch, as OpenAI's `created` fields are. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
