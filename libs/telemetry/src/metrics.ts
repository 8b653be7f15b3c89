import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** A service's own metrics registry, with the Node.js process metrics and a `service` label. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** The Prometheus endpoint of a service. */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `GET /metrics` in the Prometheus text format on `host:port` (port 0 picks a free one). */
export async function startMetricsServer(options: { registry: Registry; port: number; host?: string }): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
      options.registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'content-type': options.registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        });
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found; metrics are at /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Standard per-method gRPC server metrics, named as go-grpc-prometheus names them. */
export interface GrpcServerMetrics {
  started: Counter<'grpc_service' | 'grpc_method'>;
  handled: Counter<'grpc_service' | 'grpc_method' | 'grpc_code'>;
  handlingSeconds: Histogram<'grpc_service' | 'grpc_method'>;
}

/** Registers the gRPC server metrics on a registry (once per registry). */
export function grpcServerMetrics(registry: Registry): GrpcServerMetrics {
  const existing = registry.getSingleMetric('grpc_server_started_total');
  if (existing) {
    return {
      started: existing as GrpcServerMetrics['started'],
      handled: registry.getSingleMetric('grpc_server_handled_total') as GrpcServerMetrics['handled'],
      handlingSeconds: registry.getSingleMetric('grpc_server_handling_seconds') as GrpcServerMetrics['handlingSeconds'],
    };
  }
  return {
    started: new Counter({
      name: 'grpc_server_started_total',
      help: 'RPCs started on the server.',
      labelNames: ['grpc_service', 'grpc_method'],
      registers: [registry],
    }),
    handled: new Counter({
      name: 'grpc_server_handled_total',
      help: 'RPCs completed on the server, by status code.',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_code'],
      registers: [registry],
    }),
    handlingSeconds: new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'Time from the start of an RPC to its status, in seconds.',
      labelNames: ['grpc_service', 'grpc_method'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
}
