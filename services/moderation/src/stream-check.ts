/**
 * Checks generated text as it streams. Each chunk is checked together with the tail of the text
 * before it (a window wider than any term, even with characters inserted), so a term split across
 * chunks is still found; only findings that reach into the new chunk are reported. The first
 * blocking verdict ends the stream at once with its reason. When the producer finishes, the whole
 * text (up to a limit) gets a full check, risk model included.
 */
import { CheckStage, ModerationMode, Verdict, type CheckResponse } from '@aigc/proto';
import type { Moderator } from './moderator.js';

/** Options of a {@link StreamCheck}. */
export interface StreamCheckOptions {
  stage: CheckStage;
  mode: ModerationMode;
  /** UTF-16 units of earlier text checked again with each chunk. */
  windowChars: number;
  /** Most text kept for the final full check. */
  maxTotalChars: number;
}

/** The state of one streaming check. */
export class StreamCheck {
  private tail = '';
  private consumed = 0;
  private total = '';

  constructor(
    private readonly moderator: Moderator,
    private readonly options: StreamCheckOptions,
  ) {}

  /** Checks one chunk; `stop` is true when the stream must end here. */
  async push(chunk: string, signal?: AbortSignal): Promise<{ response: CheckResponse; stop: boolean }> {
    const text = this.tail + chunk;
    const res = await this.moderator.check({ text, stage: this.options.stage, mode: this.options.mode, fast: true, signal });
    const offset = this.consumed - this.tail.length;
    const fresh = res.findings.filter((f) => f.end > this.tail.length);
    for (const f of fresh) {
      f.start += offset;
      f.end += offset;
    }
    this.consumed += chunk.length;
    if (this.total.length < this.options.maxTotalChars) this.total += chunk.slice(0, this.options.maxTotalChars - this.total.length);
    this.tail = keepTail(text, this.options.windowChars);
    const blocking = res.verdict === Verdict.VERDICT_BLOCK && fresh.length > 0;
    const verdict = fresh.length === 0 ? Verdict.VERDICT_ALLOW : res.verdict;
    const maskedText = this.options.mode === ModerationMode.MODERATION_MODE_MASK ? res.maskedText.slice(res.maskedText.length - chunk.length) : '';
    return { response: { ...res, findings: fresh, verdict, maskedText, reason: fresh.length === 0 ? '' : res.reason }, stop: blocking };
  }

  /** The full check of everything streamed, when the producer has finished. */
  finish(signal?: AbortSignal): Promise<CheckResponse> {
    return this.moderator.check({ text: this.total, stage: this.options.stage, mode: this.options.mode, signal });
  }
}

/** The last `n` UTF-16 units of `text`, never starting inside a surrogate pair. */
function keepTail(text: string, n: number): string {
  if (text.length <= n) return text;
  let from = text.length - n;
  const c = text.charCodeAt(from);
  if (c >= 0xdc00 && c <= 0xdfff) from++;
  return text.slice(from);
}
