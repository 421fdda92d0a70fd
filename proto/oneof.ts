// Which member of a oneof a decoded message carries. The generated codec (ts-proto, oneof=properties) lays a
// oneof's members out as optional fields and sets each one that appears on the wire, so a message naming two
// members decodes with both set; protobuf would keep the last one, the service refuses it (INVALID_ARGUMENT)
// rather than guess which one the sender meant.

import { ContractError } from './convert';

/** The one member of `fields` that `msg` carries, or undefined when it carries none. */
export function oneofCase<M extends object, K extends keyof M & string>(
  msg: M,
  fields: readonly K[],
  oneof = 'kind',
): K | undefined {
  let found: K | undefined;
  for (const f of fields) {
    if (msg[f] === undefined || msg[f] === null) continue;
    if (found !== undefined)
      throw new ContractError(oneof, `expected one of ${fields.join(', ')}, got ${found} and ${f}`);
    found = f;
  }
  return found;
}
