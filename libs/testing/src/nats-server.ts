import { access, constants, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port.js';
import { spawnProcess } from './process.js';
import type { ProcessExit, SpawnedProcess } from './process.js';

/** Options of {@link startNats}. */
export interface NatsServerOptions {
  /** Client port; a free one by default. */
  port?: number;
  /** Also open the HTTP monitoring endpoint on a free port (exposed as `monitorUrl`). */
  monitor?: boolean;
  /** JetStream store directory; a fresh temporary one by default (removed by `stop`). */
  storeDir?: string;
  /** The `nats-server` executable; default: `$NATS_SERVER_BIN` or the first found on PATH. */
  binary?: string;
  /** Extra command-line arguments. */
  args?: readonly string[];
  /** How long to wait for the server to accept clients (default 10000 ms). */
  startTimeoutMs?: number;
}

/** A running `nats-server` with JetStream, owned by a test. */
export interface NatsServer {
  /** Client URL, `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory. */
  readonly storeDir: string;
  /** `http://127.0.0.1:PORT` of the monitoring endpoint when `monitor` was asked for. */
  readonly monitorUrl: string | undefined;
  /** The current server process (changes on `restart`); its `logs()` help debug failures. */
  readonly process: SpawnedProcess;
  /** SIGTERM, wait for exit, remove the store if it was created here. Idempotent. */
  stop(): Promise<void>;
  /** Sends a signal to the server process without waiting (simulate a crash with SIGKILL). */
  kill(signal?: NodeJS.Signals): boolean;
  /** Stops the process (if running) and starts it again on the same port and store. */
  restart(): Promise<void>;
}

const INSTALL_HINT =
  'nats-server was not found. Install it (Debian/Ubuntu: `apt-get install -y nats-server`) ' +
  'or set NATS_SERVER_BIN to its path.';

/** Finds the `nats-server` executable, failing with how to install it. */
export async function findNatsServer(binary?: string): Promise<string> {
  const explicit = binary ?? process.env['NATS_SERVER_BIN'];
  if (explicit) {
    if (await isExecutable(explicit)) return explicit;
    throw new Error(`${INSTALL_HINT} (${explicit} is not an executable file)`);
  }
  // Distribution packages install into sbin, which is not on every user's PATH.
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, 'nats-server');
    if (await isExecutable(candidate)) return candidate;
  }
  throw new Error(INSTALL_HINT);
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts `nats-server -js` on a free 127.0.0.1 port with a fresh store directory and resolves once it
 * accepts clients with JetStream enabled. Every integration test's NATS comes from here.
 */
export async function startNats(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = await findNatsServer(options.binary);
  const port = options.port ?? (await freePort());
  const monitorPort = options.monitor ? await freePort() : undefined;
  const ownsStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), 'aigc-nats-')));
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  // A unique name tells our server's INFO apart from another server's that already holds the port.
  const serverName = `aigc-test-${port}-${randomUUID().slice(0, 8)}`;
  const args = [
    '--server_name', serverName,
    '-a', '127.0.0.1',
    '-p', String(port),
    '-js',
    '-sd', storeDir,
    ...(monitorPort !== undefined ? ['--http_port', String(monitorPort)] : []),
    ...(options.args ?? []),
  ];

  const launch = async (): Promise<SpawnedProcess> => {
    const proc = spawnProcess({ name: `nats-server:${port}`, command: binary, args });
    try {
      await waitForJetStream(port, serverName, proc, startTimeoutMs);
      return proc;
    } catch (err) {
      await proc.stop(1000);
      throw err;
    }
  };

  let current: SpawnedProcess;
  try {
    current = await launch();
  } catch (err) {
    if (ownsStore) await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
  let stopped: Promise<void> | undefined;

  const stopProcess = async (): Promise<ProcessExit> => current.stop(5000);

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    monitorUrl: monitorPort !== undefined ? `http://127.0.0.1:${monitorPort}` : undefined,
    get process() {
      return current;
    },
    kill: (signal = 'SIGTERM') => current.kill(signal),
    restart: async () => {
      if (stopped) throw new Error(`nats-server on port ${port} was stopped; it cannot be restarted`);
      await stopProcess();
      current = await launch();
    },
    stop: () => {
      stopped ??= (async () => {
        await stopProcess();
        if (ownsStore) await rm(storeDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * Resolves once a TCP client on `port` gets the server's INFO line announcing JetStream. The server only
 * accepts clients after JetStream is enabled, so this is the moment JetStream API calls start working.
 */
async function waitForJetStream(
  port: number,
  serverName: string,
  proc: SpawnedProcess,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'not tried';
  while (Date.now() < deadline) {
    if (proc.exit) {
      throw new Error(`nats-server exited during start (code ${proc.exit.code}, signal ${proc.exit.signal}` +
        `${proc.exit.error ? `, ${proc.exit.error.message}` : ''})\n${proc.logs()}`);
    }
    try {
      const info = await readInfo(port, Math.max(100, deadline - Date.now()));
      if (info['server_name'] !== serverName) {
        lastError = `port ${port} is answered by another server (${String(info['server_name'])})`;
      } else if (info['jetstream'] !== true) {
        lastError = 'INFO does not announce JetStream';
      } else {
        return;
      }
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nats-server did not become ready on port ${port} within ${timeoutMs} ms (${lastError})\n${proc.logs()}`);
}

function readInfo(port: number, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (fn: () => void) => {
      clearTimeout(timer);
      socket.destroy();
      fn();
    };
    const timer = setTimeout(() => done(() => reject(new Error('no INFO from server'))), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('error', (err) => done(() => reject(err)));
    socket.on('data', (chunk: string) => {
      data += chunk;
      const end = data.indexOf('\r\n');
      if (end < 0) return;
      const line = data.slice(0, end);
      if (!line.startsWith('INFO ')) return done(() => reject(new Error(`unexpected greeting: ${line}`)));
      try {
        const info = JSON.parse(line.slice(5)) as Record<string, unknown>;
        done(() => resolve(info));
      } catch (err) {
        done(() => reject(err));
      }
    });
  });
}
