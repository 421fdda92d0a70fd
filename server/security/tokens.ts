// Bearer tokens: the token file (one token per line, stored as a SHA-256 hash, never in the clear), its parser,
// and the lookup of a presented token in constant time. docs/service.md "Security" describes the file.
//
// A line:  name=alice role=trainer namespace=team-a: sha256=<64 hex> [max-models=N] [max-bytes=N]
// `namespace=*` means every model (for admins and operators). Blank lines and lines starting with '#' are skipped.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';

export const ROLES = ['admin', 'trainer', 'reader', 'metrics'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenEntry {
  /** Shown in logs and audit lines in place of the token. */
  name: string;
  role: Role;
  /** A model-name prefix; '' means every model (written `*` in the file). */
  namespace: string;
  /** SHA-256 of the token, 32 bytes. */
  hash: Buffer;
  /** Models the namespace may hold when this token creates one (Infinity: no quota). */
  maxModels: number;
  /** Bytes (parameters + optimizer state) the namespace may hold when this token creates a model. */
  maxBytes: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
// Namespaces are prefixes of model names (server/domain/registry.ts: [A-Za-z0-9._:-]) and end with a separator, so
// that `team-a:` never matches `team-ab:x`.
const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}[._:-]$/;
const HEX64 = /^[0-9a-f]{64}$/;
const TOKEN_PREFIX = 'qst_';

export class TokenFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenFileError';
  }
}

/** SHA-256 of a presented token (bytes as sent). */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** A fresh token: 32 random bytes, base64url, with a prefix that secret scanners can spot. */
export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** A quota: a whole number, optionally with a binary unit (8, 4GiB); NaN if malformed. */
export function parseQuota(v: string): number {
  const m = /^(\d+)(KiB|MiB|GiB|TiB)?$/.exec(v);
  const scale = { KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };
  const n = m ? Number(m[1]) * (m[2] ? scale[m[2] as keyof typeof scale] : 1) : NaN;
  return Number.isSafeInteger(n) ? n : NaN;
}

function parseCount(v: string, key: string, where: string): number {
  const n = parseQuota(v);
  if (Number.isNaN(n))
    throw new TokenFileError(
      `${where}: expected a count (e.g. 8 or 4GiB) for ${key}, got ${JSON.stringify(v.slice(0, 40))}`,
    );
  return n;
}

export function checkNamespace(ns: string, where = 'namespace'): void {
  if (ns !== '*' && !NAMESPACE.test(ns)) {
    throw new TokenFileError(
      `${where}: expected * or a model-name prefix ending in one of . _ : - (e.g. team-a:), ` +
        `got ${JSON.stringify(ns.slice(0, 70))}`,
    );
  }
}

export function checkTokenName(name: string, where = 'name'): void {
  if (!NAME.test(name)) {
    throw new TokenFileError(
      `${where}: expected 1-64 characters of [A-Za-z0-9._@-] starting with a letter or digit, ` +
        `got ${JSON.stringify(name.slice(0, 70))}`,
    );
  }
}

export function isRole(x: string): x is Role {
  return (ROLES as readonly string[]).includes(x);
}

/** Parses a token file's text. Throws TokenFileError naming the line; never quotes a hash or a token. */
export function parseTokenFile(text: string, file = 'token file'): TokenEntry[] {
  const out: TokenEntry[] = [];
  const names = new Set<string>();
  const hashes = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${file}:${i + 1}`;
    const fields = new Map<string, string>();
    for (const part of line.split(/\s+/)) {
      const eq = part.indexOf('=');
      if (eq <= 0)
        throw new TokenFileError(`${where}: expected key=value fields, got ${JSON.stringify(part.slice(0, 20))}`);
      const key = part.slice(0, eq);
      if (!['name', 'role', 'namespace', 'sha256', 'max-models', 'max-bytes'].includes(key)) {
        throw new TokenFileError(
          `${where}: unknown field ${JSON.stringify(key.slice(0, 20))} (expected name, role, ` +
            'namespace, sha256, max-models, max-bytes)',
        );
      }
      if (fields.has(key)) throw new TokenFileError(`${where}: field ${key} given twice`);
      fields.set(key, part.slice(eq + 1));
    }
    for (const key of ['name', 'role', 'namespace', 'sha256']) {
      if (!fields.has(key)) throw new TokenFileError(`${where}: field ${key} missing`);
    }
    const name = fields.get('name') as string;
    checkTokenName(name, `${where}: name`);
    if (names.has(name)) throw new TokenFileError(`${where}: token name ${name} appears twice`);
    const role = fields.get('role') as string;
    if (!isRole(role))
      throw new TokenFileError(
        `${where}: expected one of ${ROLES.join(', ')} for role, got ${JSON.stringify(role.slice(0, 20))}`,
      );
    const ns = fields.get('namespace') as string;
    checkNamespace(ns, `${where}: namespace`);
    const hex = (fields.get('sha256') as string).toLowerCase();
    if (!HEX64.test(hex)) throw new TokenFileError(`${where}: expected 64 hex digits for sha256`);
    if (hashes.has(hex)) throw new TokenFileError(`${where}: the same token hash appears twice`);
    names.add(name);
    hashes.add(hex);
    const maxModels = fields.has('max-models')
      ? parseCount(fields.get('max-models') as string, 'max-models', where)
      : Infinity;
    const maxBytes = fields.has('max-bytes')
      ? parseCount(fields.get('max-bytes') as string, 'max-bytes', where)
      : Infinity;
    out.push({ name, role, namespace: ns === '*' ? '' : ns, hash: Buffer.from(hex, 'hex'), maxModels, maxBytes });
  }
  return out;
}

/** The file line for an entry (what `qstep token create` prints). */
export function formatTokenLine(e: Omit<TokenEntry, 'hash'> & { hash: Buffer }): string {
  const parts = [
    `name=${e.name}`,
    `role=${e.role}`,
    `namespace=${e.namespace === '' ? '*' : e.namespace}`,
    `sha256=${e.hash.toString('hex')}`,
  ];
  if (Number.isFinite(e.maxModels)) parts.push(`max-models=${e.maxModels}`);
  if (Number.isFinite(e.maxBytes)) parts.push(`max-bytes=${e.maxBytes}`);
  return parts.join(' ');
}

/** The tokens a server accepts; replaced as a whole on reload. */
export class TokenSet {
  private entries: TokenEntry[];

  constructor(
    entries: TokenEntry[],
    readonly file = '',
  ) {
    this.entries = entries;
  }

  static loadSync(file: string): TokenSet {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new TokenFileError(
        `cannot read the token file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
    const entries = parseTokenFile(text, file);
    if (entries.length === 0)
      throw new TokenFileError(`${file} holds no tokens: every call would fail UNAUTHENTICATED`);
    return new TokenSet(entries, file);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Re-reads the file; on any error the old tokens stay and the error is thrown. Returns the new count. */
  async reload(): Promise<number> {
    const text = await readFile(this.file, 'utf8');
    const entries = parseTokenFile(text, this.file);
    if (entries.length === 0)
      throw new TokenFileError(`${this.file} holds no tokens; keeping the previous ${this.entries.length}`);
    this.entries = entries;
    return entries.length;
  }

  /**
   * The entry whose hash equals the token's, or null. Every entry is compared, with timingSafeEqual on the 32-byte
   * hashes, so the time taken depends on neither where a match is nor how much of a hash matched.
   */
  find(token: string): TokenEntry | null {
    const h = hashToken(token);
    let found: TokenEntry | null = null;
    for (const e of this.entries) {
      if (timingSafeEqual(e.hash, h) && found === null) found = e;
    }
    return found;
  }
}
