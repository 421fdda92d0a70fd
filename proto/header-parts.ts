// Messages in parts: a header or result whose lists grow with the parameter count (CreateModel's parameters, a
// Step header's gradients, a StepResult's per-parameter results, a snapshot header's tensors) is sent as one head
// message plus continuations, each kept under PART_BYTES, so no message passes the server's receive limit
// (docs/service.md, "Many-parameter models"). Server and clients split with the same rule; a list that fits stays
// in the head, so the messages of a small model keep their one-message shape.

/** What one message's lists may take: a quarter of the default 1 MiB + 64 KiB receive limit. */
export const PART_BYTES = 256 * 1024;

/**
 * An upper bound of an entry's protobuf size: its JSON (field names, quoted strings and decimal numbers) is longer
 * than its wire form for every entry type split here (names, shapes, enums, doubles; no bytes fields).
 */
export function entryBytes(entry: unknown): number {
  return Buffer.byteLength(JSON.stringify(entry) ?? '', 'utf8') + 8;
}

export type Lists = Record<string, unknown[]>;

/**
 * Splits the lists into parts of at most `budget` estimated bytes (an entry larger than that gets a part of its
 * own), field after field in the given order, each field's entries kept in order. parts[0] belongs in the head
 * message, the others in continuations; there is always at least one part.
 */
export function splitLists<T extends Lists>(lists: T, budget = PART_BYTES): T[] {
  const keys = Object.keys(lists) as (keyof T)[];
  const empty = (): T => Object.fromEntries(keys.map((k) => [k, []])) as unknown as T;
  const parts: T[] = [];
  let cur = empty();
  let used = 0;
  for (const k of keys) {
    for (const item of lists[k]) {
      const n = entryBytes(item);
      if (used > 0 && used + n > budget) {
        parts.push(cur);
        cur = empty();
        used = 0;
      }
      cur[k].push(item);
      used += n;
    }
  }
  parts.push(cur);
  return parts;
}

/** A map field's entries as a list (for splitLists), and back. */
export function entriesOf<V>(map: Record<string, V> | null | undefined): [string, V][] {
  return Object.entries(map ?? {});
}

export function mapOf<V>(entries: unknown[]): Record<string, V> {
  return Object.fromEntries(entries as [string, V][]);
}

/** Appends `more` to `into` without spreading (a spread of 100,000 arguments can overflow the stack). */
export function append<T>(into: T[], more: readonly T[]): void {
  for (const x of more) into.push(x);
}
