import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** How to start a child process with {@link spawnProcess}. */
export interface SpawnOptions {
  /** Short name used in logs and error messages (for example `billing`). */
  name: string;
  command: string;
  args?: readonly string[];
  /** Extra environment, merged over `process.env`. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** How many output lines to keep for {@link SpawnedProcess.logs} (default 2000). */
  maxLogLines?: number;
}

/** How a child process ended. `error` is set when it could not be started at all. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** One captured line of a child's output. */
export interface LogLine {
  stream: 'stdout' | 'stderr';
  line: string;
}

/** Matches a line: a regular expression or a predicate. */
export type LineMatcher = RegExp | ((line: string, stream: 'stdout' | 'stderr') => boolean);

/** A running child process whose output is captured for waiting and for debugging failed tests. */
export interface SpawnedProcess {
  readonly name: string;
  readonly pid: number | undefined;
  /** Resolves once the process has exited (or failed to start); never rejects. */
  readonly exited: Promise<ProcessExit>;
  /** The exit, once known; `undefined` while running. */
  readonly exit: ProcessExit | undefined;
  /** The last captured output lines, each prefixed with the process name and stream. */
  logs(): string;
  /** The last captured output lines as records. */
  lines(): readonly LogLine[];
  /**
   * Resolves with the first line (already captured or still to come) that matches; rejects on timeout
   * or when the process exits first, with the captured logs in the message.
   */
  waitForLine(matcher: LineMatcher, timeoutMs?: number): Promise<string>;
  /** Sends a signal; returns false when the process has already exited. */
  kill(signal?: NodeJS.Signals): boolean;
  /** SIGTERM, then SIGKILL if still running after `graceMs` (default 5000); resolves with the exit. */
  stop(graceMs?: number): Promise<ProcessExit>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills children left running when the test process exits, so a crashed run leaves no servers behind. */
function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

/**
 * Starts a child process with piped output captured into a ring buffer.
 * Used for services under test and for `nats-server`; never throws: a failure to start shows up in `exited`.
 */
export function spawnProcess(options: SpawnOptions): SpawnedProcess {
  const { name, command, args = [], cwd, maxLogLines = 2000 } = options;
  const buffer: LogLine[] = [];
  const waiters = new Set<(entry: LogLine) => void>();
  let exit: ProcessExit | undefined;

  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);

  const onLine = (stream: LogLine['stream']) => (line: string) => {
    const entry = { stream, line };
    buffer.push(entry);
    if (buffer.length > maxLogLines) buffer.shift();
    for (const waiter of waiters) waiter(entry);
  };
  const stdoutDone = new Promise<void>((resolve) => {
    if (!child.stdout) return resolve();
    createInterface({ input: child.stdout }).on('line', onLine('stdout')).on('close', resolve);
  });
  const stderrDone = new Promise<void>((resolve) => {
    if (!child.stderr) return resolve();
    createInterface({ input: child.stderr }).on('line', onLine('stderr')).on('close', resolve);
  });

  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('error', (error) => {
      // 'error' without 'exit' means the process never started (ENOENT, EACCES).
      if (child.pid === undefined) {
        exit = { code: null, signal: null, error };
        resolve(exit);
      }
    });
    child.once('exit', (code, signal) => {
      // Wait for the pipes so the last lines are in the buffer when callers look; a grandchild that
      // inherited them could hold them open forever, hence the bound.
      const drained = Promise.all([stdoutDone, stderrDone]);
      void Promise.race([drained, new Promise((r) => setTimeout(r, 500).unref())]).then(() => {
        exit = { code, signal };
        resolve(exit);
      });
    });
  });

  const logs = () => buffer.map((e) => `[${name} ${e.stream}] ${e.line}`).join('\n');
  const matches = (matcher: LineMatcher, entry: LogLine) =>
    typeof matcher === 'function' ? matcher(entry.line, entry.stream) : matcher.test(entry.line);

  const waitForLine = (matcher: LineMatcher, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const seen = buffer.find((entry) => matches(matcher, entry));
      if (seen) return resolve(seen.line);
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        waiters.delete(waiter);
        fn();
      };
      const waiter = (entry: LogLine) => {
        if (matches(matcher, entry)) finish(() => resolve(entry.line));
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(new Error(`${name}: no line matching ${String(matcher)} within ${timeoutMs} ms\n${logs()}`)),
          ),
        timeoutMs,
      );
      waiters.add(waiter);
      void exited.then((e) =>
        finish(() =>
          reject(
            new Error(
              `${name} exited (code ${e.code}, signal ${e.signal}${e.error ? `, ${e.error.message}` : ''}) ` +
                `before printing a line matching ${String(matcher)}\n${logs()}`,
            ),
          ),
        ),
      );
    });

  const kill = (signal: NodeJS.Signals = 'SIGTERM') => {
    if (exit !== undefined || child.exitCode !== null || child.signalCode !== null) return false;
    return child.kill(signal);
  };

  const stop = async (graceMs = 5000) => {
    if (exit) return exit;
    kill('SIGTERM');
    const timer = setTimeout(() => kill('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    name,
    pid: child.pid,
    exited,
    get exit() {
      return exit;
    },
    logs,
    lines: () => [...buffer],
    waitForLine,
    kill,
    stop,
  };
}
