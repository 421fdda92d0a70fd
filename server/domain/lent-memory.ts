// Memory a transport lends a handler only until the handler reads the next message of its stream (the direct
// transport gathers messages into buffers it reuses, server/direct.ts). Code that would keep a view of a message's
// data beyond that (GradientStage keeps a whole gradient that came in one message) copies it when it is lent.

const lent = new WeakSet<ArrayBufferLike>();

/** Marks `b`'s memory as lent. */
export function lend(b: Buffer): void {
  lent.add(b.buffer);
}

/** Whether `b` is a view of lent memory. */
export function isLent(b: Buffer): boolean {
  return lent.has(b.buffer);
}
