import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import type { Harness } from './harness.js';
import { spawnProcess } from './process.js';

const run = promisify(execFile);

/** Options of {@link startPostgres}. */
export interface PostgresOptions {
  /** Registers `stop()` with this harness. */
  harness?: Harness;
  /** Directory of `initdb`, `postgres`, `pg_ctl`; default `$PG_BIN` or the newest `/usr/lib/postgresql/<v>/bin`. */
  binDir?: string;
  /**
   * Durable commits (fsync on, as in production). Off by default: a throwaway test cluster does
   * not need to survive a power cut, and tests run several times faster.
   */
  durable?: boolean;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
  startTimeoutMs?: number;
}

/** A throwaway PostgreSQL cluster owned by a test. */
export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication). */
  readonly url: string;
  readonly port: number;
  /** Fast shutdown, then removes the cluster's directory. Idempotent. */
  stop(): Promise<void>;
}

const INSTALL_HINT = 'PostgreSQL server binaries were not found. Install them (Debian: `apt-get install -y postgresql`) or set PG_BIN.';

/** Finds the directory holding `initdb` and `postgres`. */
export function findPostgresBin(binDir?: string): string {
  const explicit = binDir ?? process.env['PG_BIN'];
  if (explicit) {
    if (existsSync(join(explicit, 'postgres'))) return explicit;
    throw new Error(`${INSTALL_HINT} (${explicit} has no postgres)`);
  }
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(join(base, v, 'bin', 'postgres'))) return join(base, v, 'bin');
  throw new Error(INSTALL_HINT);
}

/**
 * Starts a fresh PostgreSQL cluster on a free 127.0.0.1 port in a temporary directory: `initdb`,
 * then `postgres -D dir -p port -k dir`. PostgreSQL refuses to run as root, so as root (CI) both
 * run as the `postgres` OS user via `runuser`, with the directory owned by that user.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = findPostgresBin(options.binDir);
  const asRoot = userInfo().uid === 0;
  const as = (command: string, args: string[]): [string, string[]] => (asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]);
  const dir = await mkdtemp(join(tmpdir(), 'aigc-pg-'));
  const data = join(dir, 'data');
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']).catch(() => {
      throw new Error('running as root needs the `postgres` OS user (installed with the postgresql package)');
    });
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const [initCmd, initArgs] = as(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    await run(initCmd, initArgs, { env: { ...process.env, LC_ALL: 'C' } });
  } catch (err) {
    await cleanup();
    throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr ?? String(err)}`);
  }
  const port = await freePort();
  const durable = options.durable ?? false;
  const settings = {
    listen_addresses: '127.0.0.1',
    max_connections: '200',
    ...(durable ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }),
    ...options.settings,
  };
  const [cmd, args] = as(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])]);
  const proc = spawnProcess({ name: `postgres:${port}`, command: cmd, args });
  try {
    await proc.waitForLine(/database system is ready to accept connections/, options.startTimeoutMs ?? 30_000);
  } catch (err) {
    proc.kill('SIGKILL');
    await proc.exited;
    await cleanup();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  const server: PostgresServer = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    stop: () => {
      stopped ??= (async () => {
        if (!proc.exit) {
          const [ctl, ctlArgs] = as(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', '-t', '20', 'stop']);
          await run(ctl, ctlArgs).catch(() => proc.kill('SIGKILL'));
          await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 10_000))]);
          if (!proc.exit) proc.kill('SIGKILL');
        }
        await cleanup();
      })();
      return stopped;
    },
  };
  options.harness?.onClose(() => server.stop());
  return server;
}
