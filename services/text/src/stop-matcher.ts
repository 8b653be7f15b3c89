/**
 * Cuts generated text exactly before the first stop sequence. Text that could still turn into a
 * stop sequence is held back, so a stream never shows characters that the final text drops.
 */
export class StopMatcher {
  private pending = '';
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = stops.reduce((n, s) => Math.max(n, s.length), 0);
  }

  /** Adds a text delta; returns what is safe to emit and whether a stop sequence was reached. */
  push(delta: string): { text: string; stopped: boolean } {
    if (this.stops.length === 0) return { text: delta, stopped: false };
    this.pending += delta;
    let cut = -1;
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) {
      const text = this.pending.slice(0, cut);
      this.pending = '';
      return { text, stopped: true };
    }
    // Hold back the longest suffix that is a prefix of some stop sequence.
    let hold = 0;
    for (let n = Math.min(this.longest - 1, this.pending.length); n > 0; n--) {
      const tail = this.pending.slice(this.pending.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) {
        hold = n;
        break;
      }
    }
    const text = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { text, stopped: false };
  }

  /** Text still held back when generation ends for another reason. */
  flush(): string {
    const text = this.pending;
    this.pending = '';
    return text;
  }
}
