// CreateModel: parameters and optimizer configuration in, an allocated (not yet ready) model out.

import { constants } from '../../native/lib';
import type { DType, ParamOverride } from '../../native/lib';
import type { CreateModelRequest__Output, CreateModelResponse } from '../../proto';
import { configFromWire, dtypes, overrideFromWire } from '../../proto/convert';
import type { ServiceDeps } from '../config';
import { fail } from '../errors';
import type { CallContext, UnaryImpl } from '../rpc';
import { checkpointPolicyFromWire } from '../checkpoint/policy-wire';
import { describeModel, summarizeModel } from '../views';
import { DEFAULT_PAGE_SIZE, ReplyBudget, pageOf } from '../domain/param-pages';
import { withinQuota } from '../security/authorize';

export function createModelHandler(deps: ServiceDeps): UnaryImpl<CreateModelRequest__Output, CreateModelResponse> {
  return (req, ctx) => createModel(deps, req, ctx);
}

/** Validates and creates the model of one whole request (CreateModel, or CreateModelStream's parts joined). */
export async function createModel(
  deps: ServiceDeps,
  req: CreateModelRequest__Output,
  ctx: CallContext,
): Promise<CreateModelResponse> {
  ctx.set({ model: req.name, params: req.parameters.length });
  if (req.parts > 1) throw fail.invalid(`CreateModel is one message; for ${req.parts} parts use CreateModelStream`);
  const params = req.parameters.map((p, i) => {
    const dtype: DType = dtypes.require(p.dtype, `parameters[${i}].dtype`);
    if (p.shape.length > constants.maxDims) {
      throw fail.invalid(
        `expected at most ${constants.maxDims} dims for parameters[${i}].shape, got ${p.shape.length}`,
      );
    }
    return { name: p.name, shape: p.shape, dtype };
  });
  const { config, nonFinite } = configFromWire(req.optimizer);
  const overrides: Record<string, ParamOverride> = {};
  for (const [name, o] of Object.entries(req.overrides)) overrides[name] = overrideFromWire(o);
  const policy = checkpointPolicyFromWire(req.checkpoint);
  if (policy && !deps.checkpointer)
    throw fail.precondition('a checkpoint policy needs a server started with --state-dir');
  const model = withinQuota(ctx.principal, deps.registry, () =>
    deps.registry.create({
      name: req.name,
      params,
      config,
      overrides,
      nonFinite: nonFinite ?? 'skip',
    }),
  );
  await deps.registry.commit(model);
  deps.checkpointer?.attach(model, policy ?? {});
  ctx.set({ optimizer: config.name, numel: model.numel });
  return {
    model: describeModel(model, pageOf(model, 0, DEFAULT_PAGE_SIZE, new ReplyBudget())),
    summary: summarizeModel(model),
  };
}
