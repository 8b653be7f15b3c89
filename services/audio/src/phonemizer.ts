/**
 * Text -> IPA phonemes with eSpeak NG: the Debian `espeak-ng` program run as a child process
 * (`espeak-ng -q --ipa -v <voice>`, text on stdin), never on the event loop and never a G2P of our own.
 */
import { spawn } from 'node:child_process';
import { invalidArgument, ServiceError, Status } from '@aigc/runtime';

/** Options of a {@link Phonemizer}. */
export interface PhonemizerOptions {
  /** The eSpeak NG program; default `espeak-ng` on PATH. */
  program?: string;
  /** eSpeak NG processes running at once; more wait. Default 2. */
  concurrency?: number;
  /** Longest one sentence may take; default 10 s. */
  timeoutMs?: number;
}

// eSpeak NG marks a switch of language inside a clause with "(en)" / "(cmn)".
const LANGUAGE_SWITCH = /\([a-z][a-z-]*\)/gu;
const TERMINAL: Record<string, string> = { '.': '.', '?': '?', '!': '!', '。': '.', '？': '?', '！': '!', '…': '.' };
const CLOSERS = /["'”’」』）)\]\s]+$/u;

/**
 * Phonemizes one sentence at a time. The result is the layout Piper voices are trained on and the
 * default voice's recipe reproduces (tools/train-voice/teacher.py): eSpeak NG's IPA clauses joined
 * by ", ", then the sentence's own end mark (`.`, `?` or `!`), Unicode NFD.
 */
export class Phonemizer {
  private readonly program: string;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(options: PhonemizerOptions = {}) {
    this.program = options.program ?? 'espeak-ng';
    this.concurrency = Math.max(1, options.concurrency ?? 2);
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** IPA phonemes of `sentence` in eSpeak NG voice `voice` (e.g. `en-us`, `cmn-latn-pinyin`). */
  async phonemize(sentence: string, voice: string, signal?: AbortSignal): Promise<string> {
    if (!/^[\w+-]+$/u.test(voice)) throw invalidArgument(`espeak voice ${JSON.stringify(voice)} is not a voice name`);
    await this.acquire(signal);
    try {
      // "[[...]]" would switch eSpeak NG to its own phoneme mnemonics; text is read as text only.
      const raw = await this.run(sentence.replaceAll('[[', '[ ['), voice, signal);
      const clauses = raw
        .split('\n')
        .map((line) => line.replace(LANGUAGE_SWITCH, '').trim())
        .filter((line) => line.length > 0);
      const end = [...sentence.replace(CLOSERS, '')].pop() ?? '';
      return `${clauses.join(', ')}${TERMINAL[end] ?? '.'}`.normalize('NFD');
    } finally {
      this.release();
    }
  }

  private run(text: string, voice: string, signal?: AbortSignal): Promise<string> {
    if (signal?.aborted) return Promise.reject(ServiceError.from(signal.reason));
    return new Promise<string>((resolve, reject) => {
      const child = spawn(this.program, ['-q', '--ipa', '-v', voice, '--stdin'], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = (): void => {
        child.kill('SIGKILL');
        finish(() => reject(ServiceError.from(signal!.reason)));
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(() => reject(new ServiceError(Status.INTERNAL, 'phonemizer timed out', { cause: new Error(`espeak-ng ran over ${this.timeoutMs} ms`) })));
      }, this.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) => finish(() => reject(new ServiceError(Status.INTERNAL, 'phonemizer failed', { cause: e }))));
      child.on('close', (code) => {
        const stderr = Buffer.concat(err).toString('utf8').trim();
        if (code !== 0 || /voice does not exist|no voice/i.test(stderr)) {
          finish(() => reject(new ServiceError(Status.INTERNAL, 'phonemizer failed', { cause: new Error(`espeak-ng exited ${code}: ${stderr}`) })));
        } else {
          finish(() => resolve(Buffer.concat(out).toString('utf8')));
        }
      });
      child.stdin.on('error', () => undefined); // a child killed early closes its stdin under us
      child.stdin.end(text, 'utf8');
    });
  }

  private async acquire(signal?: AbortSignal): Promise<void> {
    if (this.running < this.concurrency) {
      this.running++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.running++;
        resolve();
      };
      const onAbort = (): void => {
        const at = this.waiting.indexOf(wake);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(ServiceError.from(signal!.reason));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(wake);
    });
  }

  private release(): void {
    this.running--;
    this.waiting.shift()?.();
  }
}
