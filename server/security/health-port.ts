// A plaintext port that answers grpc.health.v1 and nothing else (--health-port). With TLS on the main port,
// probes that cannot speak TLS (the kubelet's gRPC probe, a container HEALTHCHECK without client certificates)
// still see SERVING and NOT_SERVING; the port carries no model data and needs no token.

import * as grpc from '@grpc/grpc-js';
import type { HealthImplementation } from 'grpc-health-check';

export interface HealthPort {
  port: number;
  close(): Promise<void>;
}

export async function serveHealthPort(health: HealthImplementation, host: string, port: number): Promise<HealthPort> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 });
  health.addToServer(server);
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
