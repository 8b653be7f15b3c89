import { startNats } from './nats-server.js';
import type { NatsServer, NatsServerOptions } from './nats-server.js';
import { spawnProcess } from './process.js';
import type { SpawnedProcess, SpawnOptions } from './process.js';

/** Everything an integration test started, torn down together in reverse order. */
export interface Harness {
  /** Starts a `nats-server` that `close()` will stop. */
  nats(options?: NatsServerOptions): Promise<NatsServer>;
  /** Spawns a process that `close()` will stop (SIGTERM, then SIGKILL after `graceMs`). */
  process(options: SpawnOptions & { graceMs?: number }): SpawnedProcess;
  /** Registers any cleanup (close a client, drain a connection) to run on `close()`. */
  onClose(fn: () => unknown): void;
  /** The logs of every process started here, for printing when a test fails. */
  logs(): string;
  /**
   * Runs every cleanup in reverse order of registration; never throws. Resolves with the errors the
   * cleanups threw, so a test may assert there were none. Idempotent.
   */
  close(): Promise<Error[]>;
}

/**
 * Creates a harness: `const h = createHarness(); beforeAll(() => h.nats()); afterAll(() => h.close())`.
 * Keeps teardown in one place so a failing test never leaves servers running.
 */
export function createHarness(): Harness {
  const cleanups: Array<() => unknown> = [];
  const processes: SpawnedProcess[] = [];
  let closing: Promise<Error[]> | undefined;

  const onClose = (fn: () => unknown) => {
    if (closing) throw new Error('harness is closed');
    cleanups.push(fn);
  };

  return {
    onClose,
    async nats(options) {
      if (closing) throw new Error('harness is closed');
      const server = await startNats(options);
      processes.push(server.process);
      cleanups.push(() => server.stop());
      return server;
    },
    process(options) {
      if (closing) throw new Error('harness is closed');
      const proc = spawnProcess(options);
      processes.push(proc);
      cleanups.push(() => proc.stop(options.graceMs));
      return proc;
    },
    logs: () => processes.map((p) => p.logs()).filter(Boolean).join('\n'),
    close() {
      closing ??= (async () => {
        const errors: Error[] = [];
        for (const fn of cleanups.reverse()) {
          try {
            await fn();
          } catch (err) {
            errors.push(err instanceof Error ? err : new Error(String(err)));
          }
        }
        return errors;
      })();
      return closing;
    },
  };
}
