/**
 * Test-only binding of async handlers `(request, ctx) => response` to a grpc-js server on port 0:
 * one AbortSignal per call (client cancel, call deadline), ServiceError mapped via `toStatus()`.
 * The runtime lib does this for services; specs use this small copy.
 */
import * as grpc from '@grpc/grpc-js';
import { cancelled, deadlineExceeded, ServiceError } from '@aigc/runtime';
import type { CallContext } from '../oip-service.js';

type AnyHandler = (request: unknown, ctx: CallContext) => Promise<unknown>;

/** A started server and its address. */
export interface TestServer {
  server: grpc.Server;
  address: string;
  close(): Promise<void>;
}

/** Starts a server with one service bound from async handlers. */
export async function startTestServer(definition: grpc.ServiceDefinition, handlers: Record<string, AnyHandler>): Promise<TestServer> {
  const server = new grpc.Server();
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [method] of Object.entries(definition)) {
    const handler = handlers[method];
    if (!handler) continue;
    impl[method] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const controller = new AbortController();
      const deadline = call.getDeadline();
      const deadlineAt = deadline instanceof Date ? deadline.getTime() : Number(deadline);
      let timer: NodeJS.Timeout | undefined;
      if (Number.isFinite(deadlineAt)) {
        timer = setTimeout(() => controller.abort(deadlineExceeded()), Math.max(0, deadlineAt - Date.now()));
      }
      call.on('cancelled', () => controller.abort(cancelled('client cancelled')));
      const ctx: CallContext = { signal: controller.signal, deadline: Number.isFinite(deadlineAt) ? new Date(deadlineAt) : undefined };
      handler(call.request, ctx).then(
        (response) => {
          clearTimeout(timer);
          callback(null, response);
        },
        (err: unknown) => {
          clearTimeout(timer);
          const status = ServiceError.from(err).toStatus();
          callback({ code: status.code, details: status.details, metadata: status.metadata });
        },
      );
    };
  }
  server.addService(definition, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    server,
    address: `127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
