import { once } from 'node:events';
import type { ServerResponse } from 'node:http';

/**
 * Server-sent events as OpenAI streams them: `data: <json>` records, ending with `data: [DONE]`.
 * Writes wait for 'drain' when the client reads slowly, so a slow reader slows generation down
 * (backpressure) instead of growing a buffer.
 */
export class EventStream {
  private started = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly signal: AbortSignal,
  ) {}

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
  }

  /** Sends one JSON event. */
  async send(data: unknown): Promise<void> {
    this.start();
    if (!this.res.write(`data: ${JSON.stringify(data)}\n\n`)) await once(this.res, 'drain', { signal: this.signal });
  }

  /** Sends an error event (after the stream started, HTTP status can no longer change). */
  async fail(body: unknown): Promise<void> {
    this.start();
    this.res.write(`data: ${JSON.stringify(body)}\n\n`);
    this.done();
  }

  /** Ends the stream with `[DONE]`. */
  done(): void {
    this.start();
    this.res.end('data: [DONE]\n\n');
  }

  /** Whether any event has been sent (so errors must go in-band). */
  get open(): boolean {
    return this.started;
  }
}
