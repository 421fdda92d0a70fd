// The qstep CLI: parses flags and calls the client library. `qstep serve` is routed to server/main.ts by the
// launcher (bin/qstep.js), so this file never loads the server or the native addon.

import { Command, InvalidArgumentError, Option } from 'commander';
import type * as ProgressLib from 'cli-progress';
import type * as ClientLib from './client';
import type { QstepClient } from './client';
import type { SnapshotOptions } from './types';
import type * as ErrorsLib from './errors';
import type * as SecurityLib from './security';
import type { ConnectOptions } from './types';
import type * as FormatLib from './format';
import type * as SnapshotFileLib from './snapshot-file';
import type { Progress } from './snapshot-file';
import type * as ConvertLib from '../proto/convert';
import type { DType } from '../native/lib/types';

// The libraries behind the commands load grpc-js and parse the .proto files (most of a CLI call's start-up time);
// `qstep --help` and flag errors need none of them, so each is required when a command first uses it.
/* eslint-disable @typescript-eslint/no-require-imports -- loaded on first use, see above */
const lazy = {
  client: () => require('./client') as typeof ClientLib,
  errors: () => require('./errors') as typeof ErrorsLib,
  security: () => require('./security') as typeof SecurityLib,
  format: () => require('./format') as typeof FormatLib,
  snapshotFile: () => require('./snapshot-file') as typeof SnapshotFileLib,
  convert: () => require('../proto/convert') as typeof ConvertLib,
  progress: () => require('cli-progress') as typeof ProgressLib,
};
/* eslint-enable @typescript-eslint/no-require-imports */
const bytes = (n: number): string => lazy.format().bytes(n);

interface GlobalOptions {
  address: string;
  deadlineMs?: number;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  tokenFile?: string;
}

/** TLS and token options from the global flags and their environment variables (docs/service.md "Security"). */
function securityOptions(g: GlobalOptions): Pick<ConnectOptions, 'tls' | 'token'> {
  const useTls = g.tls || Boolean(g.tlsCa || g.tlsCert || g.tlsKey);
  const token = g.tokenFile ? lazy.security().tokenFromFile(g.tokenFile) : process.env.QSTEP_TOKEN || undefined;
  return {
    tls: useTls
      ? lazy.security().tlsFromFiles({ ca: g.tlsCa, cert: g.tlsCert, key: g.tlsKey, serverName: g.tlsServerName })
      : undefined,
    token,
  };
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer, got ${v}`);
  return n;
}

/** A progress bar on a terminal; nothing otherwise (pipes and CI logs stay clean). */
function progressBar(label: string): { update: Progress; stop: () => void } {
  if (!process.stdout.isTTY) return { update: () => undefined, stop: () => undefined };
  const bar = new (lazy.progress().SingleBar)({
    format: `${label} [{bar}] {percentage}% | {done} of {all}`,
    hideCursor: true,
    clearOnComplete: false,
  });
  let started = false;
  return {
    update: (done, total) => {
      if (!started) {
        bar.start(Math.max(total, 1), 0, { done: bytes(0), all: bytes(total) });
        started = true;
      }
      bar.update(done, { done: bytes(done), all: bytes(total) });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

async function withClient<T>(program: Command, fn: (c: QstepClient, g: GlobalOptions) => Promise<T>): Promise<T> {
  const g = program.opts<GlobalOptions>();
  const client = lazy.client().connect(g.address, { unaryDeadlineMs: g.deadlineMs, ...securityOptions(g) });
  try {
    return await fn(client, g);
  } finally {
    client.close();
  }
}

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function buildProgram(): Command {
  const program = new Command('qstep')
    .description('qstep optimizer-step service: client commands (and `qstep serve [options]` to start a server)')
    .addOption(
      new Option('-a, --address <host:port>', 'server address').env('QSTEP_ADDRESS').default('127.0.0.1:50051'),
    )
    .addOption(new Option('--deadline-ms <ms>', 'deadline for each unary call').argParser(positiveInt))
    .addOption(new Option('--tls', 'connect over TLS, verifying the server against the system roots').env('QSTEP_TLS'))
    .addOption(
      new Option('--tls-ca <file>', 'connect over TLS, verifying the server against this CA (PEM)').env('QSTEP_TLS_CA'),
    )
    .addOption(new Option('--tls-cert <file>', 'client certificate for mutual TLS (PEM)').env('QSTEP_CLIENT_CERT'))
    .addOption(new Option('--tls-key <file>', 'private key of --tls-cert (PEM)').env('QSTEP_CLIENT_KEY'))
    .addOption(
      new Option('--tls-server-name <name>', "name to check the server's certificate against").env(
        'QSTEP_TLS_SERVER_NAME',
      ),
    )
    .addOption(
      new Option('--token-file <file>', 'bearer token, read from a file (or set QSTEP_TOKEN)').env('QSTEP_TOKEN_FILE'),
    )
    .addHelpText(
      'after',
      '\nServer:\n  qstep serve [options]   start a CPU (or --backend cuda) server; see `qstep serve --help`' +
        '\n  qstep token create ...  make a token for `qstep serve --auth-tokens`; see `qstep token --help`',
    );

  program
    .command('info')
    .description('server version, backend, devices, capabilities and limits')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const info = await withClient(program, (c) => c.serverInfo());
      print(o.json ? JSON.stringify(info, null, 2) : lazy.format().formatInfo(info));
    });

  program
    .command('list')
    .description('models held by the server')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const models = await withClient(program, (c) => c.listModels());
      if (o.json) return print(JSON.stringify(models, null, 2));
      print(
        lazy.format().table(
          ['model', 'optimizer', 'params', 'elements', 'ready', 'step', 'memory'],
          models.map((m) => [
            m.name,
            lazy.convert().optimizers.decode(m.optimizer) ?? '?',
            String(m.paramCount),
            String(m.numel),
            m.ready ? 'yes' : 'no',
            String(m.modelStep),
            bytes(m.memoryBytes),
          ]),
          [false, false, true, true, false, true, true],
        ),
      );
    });

  program
    .command('stats <model>')
    .description('memory by kind, state modes and step counters of a model')
    .option('--json', 'print the Describe response as JSON')
    .option('--all', 'every parameter (one Describe call per page); default: the first page')
    .action(async (model: string, o: { json?: boolean; all?: boolean }) => {
      const res = await withClient(program, (c) => (o.all ? c.describeAll(model) : c.describe(model)));
      if (o.json) return print(JSON.stringify(res, null, 2));
      print(lazy.format().formatStats(res.models[0], res.totals));
    });

  program
    .command('snapshot <model> <file>')
    .description('write weights and optimizer state to a safetensors file')
    .option('--params <names>', 'comma-separated parameter names (default: all)')
    .option('--no-weights', 'leave the weights out')
    .addOption(new Option('--state <format>', 'optimizer state').choices(['raw', 'dequantized', 'none']).default('raw'))
    .addOption(
      new Option('--weights-dtype <dtype>', 'convert weights (default: as held, bit-exact)').choices([
        'fp32',
        'fp16',
        'bf16',
      ]),
    )
    .action(
      async (
        model: string,
        file: string,
        o: { params?: string; weights: boolean; state: string; weightsDtype?: string },
      ) => {
        const options: SnapshotOptions = {
          params: o.params
            ? o.params
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
            : undefined,
          weights: o.weights,
          state: o.state as SnapshotOptions['state'],
          weightsDtype: o.weightsDtype as DType | undefined,
        };
        const bar = progressBar(`snapshot ${model}`);
        try {
          const r = await withClient(program, (c) =>
            lazy.snapshotFile().writeSnapshotFile(c, model, file, options, bar.update),
          );
          bar.stop();
          print(`wrote ${file}: ${r.tensors} tensors, ${bytes(r.bytes)}`);
        } finally {
          bar.stop();
        }
      },
    );

  program
    .command('restore <model> <file>')
    .description('load weights and optimizer state from a safetensors file, all or nothing')
    .action(async (model: string, file: string) => {
      const bar = progressBar(`restore ${model}`);
      try {
        const r = await withClient(program, (c) => lazy.snapshotFile().restoreSnapshotFile(c, model, file, bar.update));
        bar.stop();
        print(
          `restored ${r.paramCount || r.params.length} parameters of ${r.model} (${bytes(r.bytes)}), model step ${r.modelStep}` +
            `${r.ready ? '' : '; the model still lacks values'}`,
        );
      } finally {
        bar.stop();
      }
    });

  program
    .command('checkpoint <model>')
    .description('take a checkpoint of a model now (a server with --state-dir); waits until it is on disk')
    .action(async (model: string) => {
      const r = await withClient(program, (c) => c.checkpoint(model));
      print(
        `checkpoint ${r.id} of ${r.model} at model step ${r.modelStep}: ${r.file} (${bytes(r.bytes)}); ` +
          `steps held ${r.stallMs.toFixed(1)} ms, written in ${r.writeMs.toFixed(1)} ms`,
      );
    });

  program
    .command('delete <model>')
    .description('delete a model and free its memory')
    .action(async (model: string) => {
      const r = await withClient(program, (c) => c.deleteModel(model));
      print(`deleted ${r.name}, freed ${bytes(r.freedBytes)}`);
    });

  program
    .command('health')
    .description('grpc.health.v1 check; exits 0 when SERVING')
    .option('--service <name>', "service name ('' = the whole server)", '')
    .action(async (o: { service: string }) => {
      const status = await withClient(program, (c) =>
        c.health(o.service, { deadlineMs: program.opts<GlobalOptions>().deadlineMs ?? 5000 }),
      );
      print(status);
      if (status !== 'SERVING') process.exitCode = 1;
    });

  return program;
}

export async function cli(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
  } catch (err) {
    const e = err instanceof lazy.errors().QstepError ? err : null;
    process.stderr.write(
      `qstep: ${e ? `${e.codeName}: ${e.details}` : err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exitCode = 2;
  }
}
