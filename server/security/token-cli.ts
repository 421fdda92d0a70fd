// `qstep token ...`: makes and checks token files (server/security/tokens.ts) without a running server.
//   qstep token create --name N --role R --namespace P [--max-models N] [--max-bytes N] [--file FILE]
//     prints the new token once (it is stored nowhere) and its file line; with --file, adds the line to FILE
//     (created with mode 0600; written to a temporary file and renamed, so a reader never sees half a file).
//   qstep token check FILE
//     parses FILE and lists its tokens (name, role, namespace, quotas), or says what is wrong and where.

import { Command, InvalidArgumentError, Option } from 'commander';
import { randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, unlink } from 'node:fs/promises';
import {
  ROLES,
  TokenFileError,
  checkNamespace,
  checkTokenName,
  formatTokenLine,
  hashToken,
  newToken,
  parseQuota,
  parseTokenFile,
} from './tokens';
import type { Role } from './tokens';

function count(v: string): number {
  const n = parseQuota(v);
  if (Number.isNaN(n)) throw new InvalidArgumentError(`expected a count such as 8 or 4GiB, got ${v.slice(0, 40)}`);
  return n;
}

/** Adds `line` to the token file at `file` after checking that the result still parses (names stay unique). */
async function appendLine(file: string, line: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    text = '# qstep token file: one token per line (qstep token create); hashes only, never tokens\n';
  }
  const next = `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${line}\n`;
  parseTokenFile(next, file);
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(next);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

export function buildTokenProgram(): Command {
  const program = new Command('qstep token').description('make and check token files for `qstep serve --auth-tokens`');
  program
    .command('create')
    .description('a new token: printed once, with the line for the token file')
    .requiredOption('--name <name>', 'shown in logs and audit lines instead of the token')
    .addOption(new Option('--role <role>', 'what the token may call').choices([...ROLES]).makeOptionMandatory())
    .requiredOption('--namespace <prefix>', 'model-name prefix the token may touch (e.g. team-a:), or * for all')
    .option('--max-models <n>', 'models its namespace may hold (checked when it creates one)', count)
    .option('--max-bytes <n>', 'bytes its namespace may hold, e.g. 8GiB (checked when it creates a model)', count)
    .option('--file <file>', 'add the line to this token file (created 0600 if absent)')
    .action(
      async (o: {
        name: string;
        role: Role;
        namespace: string;
        maxModels?: number;
        maxBytes?: number;
        file?: string;
      }) => {
        checkTokenName(o.name, '--name');
        checkNamespace(o.namespace, '--namespace');
        const token = newToken();
        const line = formatTokenLine({
          name: o.name,
          role: o.role,
          namespace: o.namespace === '*' ? '' : o.namespace,
          hash: hashToken(token),
          maxModels: o.maxModels ?? Infinity,
          maxBytes: o.maxBytes ?? Infinity,
        });
        if (o.file) await appendLine(o.file, line);
        process.stdout.write(`token ${token}\nline  ${line}\n`);
        process.stderr.write(
          `The token is shown only now; clients send it as 'authorization: Bearer <token>' ` +
            `(qstep --token-file, or QSTEP_TOKEN).${o.file ? ` Added ${o.name} to ${o.file}; send the server SIGHUP to load it.` : ''}\n`,
        );
      },
    );
  program
    .command('check <file>')
    .description('parse a token file and list its tokens')
    .action(async (file: string) => {
      const entries = parseTokenFile(await readFile(file, 'utf8'), file);
      for (const e of entries) {
        const q = [
          Number.isFinite(e.maxModels) ? `max-models=${e.maxModels}` : '',
          Number.isFinite(e.maxBytes) ? `max-bytes=${e.maxBytes}` : '',
        ]
          .filter(Boolean)
          .join(' ');
        process.stdout.write(`${e.name}\t${e.role}\t${e.namespace === '' ? '*' : e.namespace}\t${q}\n`);
      }
      process.stderr.write(`${entries.length} tokens\n`);
    });
  return program;
}

export async function cli(argv: string[]): Promise<void> {
  try {
    await buildTokenProgram().parseAsync(argv, { from: 'user' });
  } catch (err) {
    process.stderr.write(
      `qstep token: ${err instanceof TokenFileError || err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exitCode = 2;
  }
}
