import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallOptionsAsync, Logger } from '@aigc/runtime';
import type { OrchestratorLink } from '../orchestrator-link.js';
import type { Fields } from './fields.js';

/** What one HTTP API call's handler gets. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The parsed JSON body (empty for GET). */
  body: Record<string, unknown>;
  fields: Fields;
  /** Options for the orchestrator call: signal (client disconnect, timeout), deadline, metadata with the caller. */
  call: CallOptionsAsync;
  requestId: string;
  orchestrator: OrchestratorLink;
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
