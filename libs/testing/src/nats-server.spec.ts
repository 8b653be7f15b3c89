import { access } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats } from './nats-server.js';
import type { NatsServer } from './nats-server.js';

/** A minimal NATS protocol client, so the harness is tested without the library it serves. */
class RawNats {
  private buffer = '';
  private readonly waiters: Array<{ match: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.flush();
    });
  }

  static async open(port: number): Promise<RawNats> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new RawNats(socket);
    await client.expect(/^INFO (.*)\r\n/m);
    client.send('CONNECT {"verbose":false,"pedantic":false,"headers":false}\r\nPING\r\n');
    await client.expect(/^PONG\r\n/m);
    return client;
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Resolves with the first match in the unread input, consuming input up to the end of it. */
  expect(match: RegExp, timeoutMs = 5000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${String(match)} in ${JSON.stringify(this.buffer)}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      this.flush();
    });
  }

  /** Publishes a JetStream API request and returns the parsed JSON reply. */
  async api(subject: string, body: unknown): Promise<Record<string, unknown>> {
    const payload = JSON.stringify(body ?? {});
    const inbox = `_INBOX.${Math.random().toString(36).slice(2)}`;
    this.send(`SUB ${inbox} 1\r\nPUB ${subject} ${inbox} ${Buffer.byteLength(payload)}\r\n${payload}\r\n`);
    const m = await this.expect(new RegExp(`^MSG ${inbox.replace('.', '\\.')} 1 \\d+\\r\\n(.*)\\r\\n`, 'm'));
    this.send('UNSUB 1\r\n');
    return JSON.parse(m[1] ?? '{}') as Record<string, unknown>;
  }

  close(): void {
    this.socket.destroy();
  }

  private flush(): void {
    for (let i = 0; i < this.waiters.length; i++) {
      const waiter = this.waiters[i]!;
      const m = waiter.match.exec(this.buffer);
      if (m) {
        this.buffer = this.buffer.slice((m.index ?? 0) + m[0].length);
        this.waiters.splice(i, 1);
        waiter.resolve(m);
        i = -1;
      }
    }
  }
}

describe('startNats', () => {
  let server: NatsServer;

  beforeAll(async () => {
    server = await startNats({ monitor: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves core publish/subscribe on the announced url', async () => {
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    const client = await RawNats.open(server.port);
    try {
      client.send('SUB greetings 7\r\nPUB greetings 5\r\nhello\r\n');
      const m = await client.expect(/^MSG greetings 7 5\r\n(.*)\r\n/m);
      expect(m[1]).toBe('hello');
    } finally {
      client.close();
    }
  });

  it('has JetStream ready as soon as it resolves, with the store in storeDir', async () => {
    const client = await RawNats.open(server.port);
    try {
      const info = await client.api('$JS.API.INFO', {});
      expect(info['type']).toBe('io.nats.jetstream.api.v1.account_info_response');
      expect(info['error']).toBeUndefined();
    } finally {
      client.close();
    }
    await expect(access(`${server.storeDir}/jetstream`)).resolves.toBeUndefined();
  });

  it('exposes the monitoring endpoint when asked', async () => {
    const res = await fetch(`${server.monitorUrl}/varz`);
    const varz = (await res.json()) as { port: number };
    expect(varz.port).toBe(server.port);
  });

  it('restart keeps the port and the JetStream store', async () => {
    let client = await RawNats.open(server.port);
    const created = await client.api('$JS.API.STREAM.CREATE.KEEP', { name: 'KEEP', subjects: ['keep.>'], storage: 'file' });
    expect(created['error']).toBeUndefined();
    client.close();

    await server.restart();

    client = await RawNats.open(server.port);
    try {
      const info = await client.api('$JS.API.STREAM.INFO.KEEP', {});
      expect((info['config'] as { name: string }).name).toBe('KEEP');
    } finally {
      client.close();
    }
  }, 20_000);
});

describe('startNats lifecycle', () => {
  it('stop terminates the server and removes its temporary store', async () => {
    const server = await startNats();
    await server.stop();
    expect(server.process.exit).toBeDefined();
    await expect(access(server.storeDir)).rejects.toThrow(/ENOENT/);
    await expect(RawNats.open(server.port)).rejects.toThrow(/ECONNREFUSED/);
    await server.stop(); // idempotent
  });

  it('fails with how to install nats-server when the binary is missing', async () => {
    await expect(startNats({ binary: '/nonexistent/nats-server' })).rejects.toThrow(
      /apt-get install -y nats-server/,
    );
  });

  it('fails with the server output when nats-server cannot start', async () => {
    const first = await startNats();
    try {
      await expect(startNats({ port: first.port, startTimeoutMs: 5000 })).rejects.toThrow(
        /nats-server exited during start[\s\S]*address already in use/,
      );
    } finally {
      await first.stop();
    }
  });
});
