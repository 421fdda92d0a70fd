// Paging of per-parameter detail (Describe, the CreateModel reply): a reply must never grow with the parameter
// count past the message limit (a mixture-of-experts model has tens of thousands of tensors). A page holds at
// most `pageSize` parameters and at most a byte budget shared by every model of one reply; the byte cost of a
// parameter is estimated from its name and shape (names are at most 256 characters, so a page of 1000 stays well
// under the budget unless names are long). A token is the next parameter's index, bound to the model's name.

import { fail } from '../errors';
import { quote } from './bounded';
import type { Model, ParamEntry } from './model';

export const DEFAULT_PAGE_SIZE = 1000;
export const MAX_PAGE_SIZE = 10_000;
/** Estimated bytes of per-parameter detail in one reply (the message limit is 1 MiB + 64 KiB by default). */
export const REPLY_PARAM_BUDGET_BYTES = 512 * 1024;
/** Upper bound of a ParamDescription's fixed fields (memory by kind, hyperparameters, layout, counters). */
const PARAM_FIXED_BYTES = 240;

export interface ParamPage {
  params: ParamEntry[];
  offset: number;
  nextToken: string;
}

/** Shared byte budget of one reply. */
export class ReplyBudget {
  constructor(public left = REPLY_PARAM_BUDGET_BYTES) {}
}

export function pageSizeOf(requested: number): number {
  if (!Number.isSafeInteger(requested) || requested < 0)
    throw fail.invalid(`expected a page_size >= 0, got ${requested}`);
  return requested === 0 ? DEFAULT_PAGE_SIZE : Math.min(requested, MAX_PAGE_SIZE);
}

function tokenOf(model: Model, index: number): string {
  return `${index}:${model.name}`;
}

export function offsetOf(model: Model, token: string): number {
  if (token === '') return 0;
  const m = /^(\d{1,9}):(.*)$/s.exec(token);
  const index = m ? Number(m[1]) : NaN;
  if (!m || m[2] !== model.name || index <= 0 || index >= model.params.length) {
    throw fail.invalid(`page_token ${quote(token)} was not given for model ${model.name} (or the model changed)`);
  }
  return index;
}

function costOf(e: ParamEntry): number {
  return PARAM_FIXED_BYTES + 2 * Buffer.byteLength(e.name) + 11 * e.param.shape.length;
}

/** One page from `offset`: at least one parameter (so paging always advances), then while size and budget allow. */
export function pageOf(model: Model, offset: number, pageSize: number, budget: ReplyBudget): ParamPage {
  const params: ParamEntry[] = [];
  let i = offset;
  while (i < model.params.length && params.length < pageSize) {
    const cost = costOf(model.params[i]);
    if (params.length > 0 && cost > budget.left) break;
    budget.left -= cost;
    params.push(model.params[i]);
    i++;
  }
  return { params, offset, nextToken: i < model.params.length ? tokenOf(model, i) : '' };
}
