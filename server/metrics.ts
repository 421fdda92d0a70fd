// Prometheus metrics (prom-client) on their own registry, served over plain HTTP on a separate port: the usual
// grpc_server_* family (named as in go-grpc-prometheus) plus the optimizer's own: steps applied, skipped and
// replayed, non-finite gradients, state bytes by kind, staging, kernel (engine step) time and snapshot bytes.

import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ModelRegistry } from './domain/registry';
import type { StagingBudget } from './domain/staging-budget';

const RPC_LABELS = ['grpc_service', 'grpc_method', 'grpc_type'] as const;
type RpcLabel = (typeof RPC_LABELS)[number];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly started: Counter<RpcLabel>;
  readonly handled: Counter<RpcLabel | 'grpc_code'>;
  readonly handling: Histogram<RpcLabel>;
  readonly received: Counter<RpcLabel>;
  readonly sent: Counter<RpcLabel>;
  readonly stepsApplied: Counter<'model'>;
  readonly stepsSkipped: Counter<'model'>;
  readonly stepsReplayed: Counter<'model'>;
  readonly nonFinite: Counter<'model'>;
  readonly stepSeconds: Histogram<'model'>;
  readonly snapshotBytes: Counter<'direction'>;

  constructor(models: ModelRegistry, budget: StagingBudget) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.started = new Counter({
      name: 'grpc_server_started_total',
      help: 'RPCs started on the server.',
      labelNames: RPC_LABELS,
      registers,
    });
    this.handled = new Counter({
      name: 'grpc_server_handled_total',
      help: 'RPCs completed on the server, by status code.',
      labelNames: [...RPC_LABELS, 'grpc_code'],
      registers,
    });
    this.handling = new Histogram({
      name: 'grpc_server_handling_seconds',
      help: 'RPC latency until the status was sent.',
      labelNames: RPC_LABELS,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.received = new Counter({
      name: 'grpc_server_msg_received_total',
      help: 'Stream messages received.',
      labelNames: RPC_LABELS,
      registers,
    });
    this.sent = new Counter({
      name: 'grpc_server_msg_sent_total',
      help: 'Stream messages sent.',
      labelNames: RPC_LABELS,
      registers,
    });
    this.stepsApplied = new Counter({
      name: 'qstep_steps_applied_total',
      help: 'Steps that updated the model.',
      labelNames: ['model'],
      registers,
    });
    this.stepsSkipped = new Counter({
      name: 'qstep_steps_skipped_total',
      help: 'Steps skipped for non-finite gradients (policy skip).',
      labelNames: ['model'],
      registers,
    });
    this.stepsReplayed = new Counter({
      name: 'qstep_steps_replayed_total',
      help: 'Repeated (worker, step id) answered from the ledger.',
      labelNames: ['model'],
      registers,
    });
    this.nonFinite = new Counter({
      name: 'qstep_nonfinite_gradients_total',
      help: 'Gradients (one per parameter and step) holding NaN or Inf.',
      labelNames: ['model'],
      registers,
    });
    this.stepSeconds = new Histogram({
      name: 'qstep_step_seconds',
      help: 'Engine time of one step (kernels, all parameters of the step).',
      labelNames: ['model'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.snapshotBytes = new Counter({
      name: 'qstep_snapshot_bytes_total',
      help: 'Snapshot bytes streamed out (snapshot) or in (restore).',
      labelNames: ['direction'],
      registers,
    });
    new Gauge({
      name: 'qstep_state_bytes',
      help: 'Bytes held for all models, by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        const sums: Record<string, number> = {
          parameters: 0,
          state: 0,
          scales: 0,
          maps: 0,
          percentile_history: 0,
          paged: 0,
          fp32_state_equivalent: 0,
        };
        for (const m of models.list()) {
          for (const e of m.params) {
            if (e.param.freed) continue;
            const mem = e.param.memory();
            sums.parameters += mem.param;
            sums.state += mem.state;
            sums.scales += mem.scales;
            sums.maps += mem.maps;
            sums.percentile_history += mem.percentileHistory;
            sums.paged += mem.paged;
            sums.fp32_state_equivalent += mem.fp32StateEquivalent;
          }
        }
        for (const [kind, v] of Object.entries(sums)) this.set({ kind }, v);
      },
    });
    new Gauge({
      name: 'qstep_staging_bytes',
      help: 'Staging memory held by streams in flight.',
      registers,
      collect() {
        this.set(budget.inUse);
      },
    });
    new Gauge({
      name: 'qstep_staging_budget_bytes',
      help: 'Bound on staging memory.',
      registers,
      collect() {
        this.set(budget.total);
      },
    });
    new Gauge({
      name: 'qstep_models',
      help: 'Models held.',
      registers,
      collect() {
        this.set(models.size);
      },
    });
  }

  /** Drops a deleted model's label values. */
  forgetModel(model: string): void {
    for (const c of [this.stepsApplied, this.stepsSkipped, this.stepsReplayed, this.nonFinite]) c.remove({ model });
    this.stepSeconds.remove({ model });
  }
}

/**
 * Serves /metrics on host:port (0 = an ephemeral port). Resolves with the bound port. With `authorize`, a request
 * whose Authorization header it refuses gets 401 (server/security/endpoints.ts).
 */
export function serveMetrics(
  registry: Registry,
  host: string,
  port: number,
  authorize?: (authorization: string | undefined) => boolean,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (authorize && !authorize(req.headers.authorization)) {
      res
        .writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' })
        .end('/metrics needs Authorization: Bearer <token> of role admin or metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({ server, port: (server.address() as AddressInfo).port });
    });
  });
}
