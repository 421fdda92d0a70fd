#!/usr/bin/env python3
"""Converts a bitsandbytes optimizer state_dict (a torch .pt file) into a qstep snapshot file (docs/math.md §15).

    scripts/bnb-to-qstep.py CHECKPOINT.pt OUT.safetensors --model NAME --optimizer adamw \\
        --names encoder.weight,encoder.bias [--key optimizer] [--block-size 256|2048] [--dtype fp32]

then `npx qstep restore NAME OUT.safetensors` loads the state, bit for bit, into a model created with the same
parameters (upload the weights first: a bnb optimizer checkpoint holds no weights).

The state_dict is torch's layout, {"state": {index: {...}}, "param_groups": [...]}, indices in param_groups order
(15.1); --names gives the qstep parameter name of each index in that order. Both the flat layout and the
0.49.2+ one with the tensors nested under "__bnb_optimizer_quant_state__" load (15.2 step 1). Tensors keep their
dtype and bytes; only names and shapes change to qstep's: state1/state2 flattened to [n] ([2, n] for AdEMAMix),
absmax1/absmax2 to [blocks] ([2, blocks]), max1/max2 to [1], unorm_vec -> unorm, gnorm_vec -> gnorm_hist;
new_max1/new_max2 (recomputed every step) are dropped. The state mode follows the tensors: uint8 codes with
absmax -> blockwise8 (block size from the absmax length, or --block-size), with max -> static8, float32 -> fp32.
"""
import argparse
import json
import math
import struct
import sys

import torch

QUANT_KEY = "__bnb_optimizer_quant_state__"
OPTIMIZERS = ["adam", "adamw", "lion", "sgd", "rmsprop", "adagrad", "lamb", "lars", "ademamix"]
RENAME = {"unorm_vec": "unorm", "gnorm_vec": "gnorm_hist"}
DROP = {"new_max1", "new_max2"}
KNOWN = {"state1", "state2", "absmax1", "absmax2", "max1", "max2", "qmap1", "qmap2", "unorm_vec", "gnorm_vec"}
ELEMENT = {torch.float32: "F32", torch.uint8: "U8"}
DTYPES = {"fp32": "DTYPE_FP32", "fp16": "DTYPE_FP16", "bf16": "DTYPE_BF16"}


def fail(msg):
    sys.stderr.write(f"bnb-to-qstep: {msg}\n")
    sys.exit(2)


def block_size(numel, blocks, forced):
    if forced:
        if math.ceil(numel / forced) != blocks:
            fail(f"--block-size {forced} gives {math.ceil(numel / forced)} blocks for {numel} elements, the checkpoint has {blocks}")
        return forced
    fits = [b for b in (256, 2048) if math.ceil(numel / b) == blocks]
    if not fits:
        fail(f"{blocks} absmax values for {numel} elements match neither block size 256 nor 2048")
    return fits[0]  # both fit only when one block holds everything: 256, the current default, then


def convert_param(index, name, entry, optimizer, forced_block):
    flat = dict(entry)
    flat.update(flat.pop(QUANT_KEY, {}) or {})  # 15.2 step 1: both layouts
    if "step" not in flat:
        fail(f"state of parameter index {index} ({name}) has no step")
    step = int(flat["step"].item() if torch.is_tensor(flat["step"]) else flat["step"])
    unknown = [k for k in flat if k != "step" and k not in KNOWN and k not in DROP]
    if unknown:
        fail(f"state of {name} has keys qstep does not know: {', '.join(sorted(unknown))}")
    s1 = flat.get("state1")
    if s1 is None:
        fail(f"state of {name} has no state1")
    rows = 2 if optimizer == "ademamix" else 1
    numel = s1.numel() // rows
    shape = list(s1.shape[1:]) if rows == 2 else list(s1.shape)
    if s1.dtype == torch.uint8:
        mode = "STATE_MODE_BLOCKWISE8" if "absmax1" in flat else "STATE_MODE_STATIC8"
        if mode == "STATE_MODE_STATIC8" and "max1" not in flat:
            fail(f"8-bit state of {name} has neither absmax1 nor max1")
    elif s1.dtype == torch.float32:
        mode = "STATE_MODE_FP32"
    else:
        fail(f"state1 of {name} is {s1.dtype}; expected uint8 or float32")
    block = 0
    if mode == "STATE_MODE_BLOCKWISE8":
        block = block_size(numel, flat["absmax1"].numel() // rows, forced_block)
    tensors = []
    for key in sorted(flat):
        if key == "step" or key in DROP:
            continue
        t = flat[key].detach().cpu().contiguous()
        if t.dtype not in ELEMENT:
            fail(f"{key} of {name} is {t.dtype}; bnb state tensors are float32 or uint8")
        if key == "state1":
            new_shape = [rows, numel] if rows == 2 else [numel]
        elif key == "state2":
            new_shape = [numel]
        elif key in ("absmax1", "absmax2"):
            blocks = t.numel() // (rows if key == "absmax1" else 1)
            new_shape = [rows, blocks] if key == "absmax1" and rows == 2 else [blocks]
        else:
            new_shape = [t.numel()]
        if math.prod(new_shape) != t.numel():
            fail(f"{key} of {name}: {t.numel()} values do not fit shape {new_shape}")
        tensors.append((RENAME.get(key, key), ELEMENT[t.dtype], new_shape, t.reshape(-1).numpy().tobytes()))
    info = {"name": name, "shape": shape, "optimizer": "OPTIMIZER_" + optimizer.upper(), "stateMode": mode,
            "blockSize": block, "step": step}
    return info, tensors


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    for name, element, shape, data in tensors:
        header[name] = {"dtype": element, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for _, _, _, data in tensors:
            f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--model", required=True, help="the qstep model name")
    ap.add_argument("--optimizer", required=True, choices=OPTIMIZERS)
    ap.add_argument("--names", required=True, help="qstep parameter names, comma separated, in param_groups order")
    ap.add_argument("--key", help="the optimizer state_dict's key inside a larger checkpoint dict")
    ap.add_argument("--block-size", type=int, choices=[256, 2048], help="blockwise8 block size (default: inferred)")
    ap.add_argument("--dtype", default="fp32", choices=sorted(DTYPES), help="the parameters' dtype (informational)")
    args = ap.parse_args()

    sd = torch.load(args.checkpoint, map_location="cpu")
    if args.key:
        sd = sd[args.key]
    if not isinstance(sd, dict) or "state" not in sd or "param_groups" not in sd:
        fail("expected a torch optimizer state_dict: a dict with 'state' and 'param_groups'")
    order = [i for g in sd["param_groups"] for i in g["params"]]
    names = [n for n in args.names.split(",") if n]
    if len(names) != len(order):
        fail(f"--names lists {len(names)} parameters; param_groups hold {len(order)}")
    params, tensors, roles = [], [], {}
    for index, name in zip(order, names):
        if index not in sd["state"]:
            continue  # a parameter the optimizer never stepped has no state: restore leaves it as created
        info, ts = convert_param(index, name, sd["state"][index], args.optimizer, args.block_size)
        info["dtype"] = DTYPES[args.dtype]
        params.append(info)
        for key, element, shape, data in ts:
            tname = f"__state__/{name}/{key}"
            tensors.append((tname, element, shape, data))
            roles[tname] = {"param": name, "role": "state", "state_key": key}
    if not params:
        fail("the state_dict holds no parameter state")
    model_step = max(p["step"] for p in params)
    metadata = {
        "format": "qstep.snapshot", "format_version": "1", "model": args.model, "model_step": str(model_step),
        "state_format": "STATE_FORMAT_RAW", "params": json.dumps(params), "tensors": json.dumps(roles),
        "source": "bitsandbytes state_dict",
    }
    write_safetensors(args.out, tensors, metadata)
    print(f"{args.out}: state of {len(params)} parameters, {len(tensors)} tensors, model step {model_step}")


if __name__ == "__main__":
    main()
