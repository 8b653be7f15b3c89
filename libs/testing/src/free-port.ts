import { createServer } from 'node:net';

// Below Linux's ephemeral range (32768-60999): the OS never hands these out for port 0 or for
// outgoing connections, so a port chosen here is not taken by another process binding port 0
// between our check and the service binding it.
const LOW = 15_000;
const HIGH = 32_000;
const handedOut = new Set<number>();

function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const address = server.address();
      const bound = address !== null && typeof address !== 'string' ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * Returns a TCP port on 127.0.0.1 that is free now, for a child process to bind. Ports come from
 * below the ephemeral range and are not handed out twice by this process, which keeps the window
 * in which another process could take the port as small as it gets; callers that can bind port 0
 * themselves should.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const candidate = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(candidate)) continue;
    const port = await tryBind(candidate);
    if (port !== undefined) {
      handedOut.add(port);
      return port;
    }
  }
  const port = await tryBind(0);
  if (port === undefined) throw new Error('freePort: no free port found');
  return port;
}
