// Bounded echo: every name or value a request sent that an error or log line quotes goes through quote(), so no
// request can make a reply or a log line grow with its own size (a 1 MB model name is quoted as its first 200
// characters and a marker saying how long it was).

/** Characters of a quoted input kept. */
export const QUOTE_MAX_CHARS = 200;

/** `s` cut to QUOTE_MAX_CHARS characters (with a marker naming its full length), without quotes. */
export function bounded(s: string, max = QUOTE_MAX_CHARS): string {
  if (typeof s !== 'string') s = String(s);
  if (s.length <= max) return s;
  return `${s.slice(0, max)}...[${s.length} chars]`;
}

/** `s` as a JSON string literal, cut to QUOTE_MAX_CHARS characters of input. */
export function quote(s: string, max = QUOTE_MAX_CHARS): string {
  if (typeof s !== 'string') s = String(s);
  if (s.length <= max) return JSON.stringify(s);
  return `${JSON.stringify(s.slice(0, max))}...[${s.length} chars]`;
}

/** Characters of a status message sent (and logged) at most; messages quote input through quote(), so this cut
 * only ever applies to one that forgot to. */
export const DETAILS_MAX_CHARS = 1000;

/** Log fields with every string cut to QUOTE_MAX_CHARS (arrays and objects are kept only when small). */
export function boundedFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v === 'string') out[k] = bounded(v);
    else if (v !== null && typeof v === 'object') {
      const s = JSON.stringify(v);
      out[k] = s.length <= QUOTE_MAX_CHARS ? v : bounded(s);
    } else out[k] = v;
  }
  return out;
}
