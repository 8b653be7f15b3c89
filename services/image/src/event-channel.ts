/**
 * A one-consumer async queue between the denoising loop's callbacks (push) and a streaming
 * handler (for await). `end` finishes the stream, `fail` makes the consumer throw.
 */
export class EventChannel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private error: { reason: unknown } | undefined;

  /** Queues an event (ignored after the end). */
  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.wake();
  }

  /** No more events; the consumer sees the queued ones first. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Ends with an error the consumer throws after the queued events. */
  fail(reason: unknown): void {
    if (this.ended) return;
    this.error = { reason };
    this.end();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      while (this.items.length > 0) yield this.items.shift()!;
      if (this.ended) {
        if (this.error) throw this.error.reason;
        return;
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
}
