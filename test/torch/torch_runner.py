"""Live torch.optim for qstep's cross-check (test/torch/torch-optim.test.ts).

Run with Debian's interpreter (/usr/bin/python3 with python3-torch). Reads frames from stdin and answers each
with one frame on stdout. A frame is: u32 little-endian header length, a UTF-8 JSON header, then the raw bytes of
the blobs the header lists in order ({"name", "bytes"}); every blob is little-endian float32.

Commands:
  hello                                     -> {"torch": version}
  create {id, optimizer, hyper} + params    -> {}
  step   {id} + grad [+ param] [+ state.NAME...]
         sets the parameter and the named state tensors when given (the re-synchronizing protocol of docs/math.md §16.2),
         then p.grad = grad and optimizer.step()  -> {"step": k} + param + state.NAME for every state tensor
  free   {id}                               -> {}
Errors answer {"error": message}; the process keeps serving.
"""
import json
import struct
import sys

import torch

torch.set_num_threads(1)

STATE_NAMES = {
    "adam": ["exp_avg", "exp_avg_sq"],
    "adamw": ["exp_avg", "exp_avg_sq"],
    "sgd": ["momentum_buffer"],
    "rmsprop": ["square_avg"],
    "adagrad": ["sum"],
}


def make(name, params, h):
    if name == "adam":
        return torch.optim.Adam(params, lr=h["lr"], betas=tuple(h["betas"]), eps=h["eps"],
                                weight_decay=h["weightDecay"], foreach=False)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=h["lr"], betas=tuple(h["betas"]), eps=h["eps"],
                                 weight_decay=h["weightDecay"], foreach=False)
    if name == "sgd":
        return torch.optim.SGD(params, lr=h["lr"], momentum=h["momentum"], dampening=0,
                               weight_decay=h["weightDecay"], nesterov=False, foreach=False)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=h["lr"], alpha=h["alpha"], eps=h["eps"],
                                   weight_decay=h["weightDecay"], momentum=0, centered=False, foreach=False)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=h["lr"], lr_decay=0, weight_decay=h["weightDecay"],
                                   initial_accumulator_value=0, eps=h["eps"], foreach=False)
    raise ValueError("unknown optimizer " + name)


def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sys.stdin.buffer.read(n - len(buf))
        if not chunk:
            return None
        buf.extend(chunk)
    return bytes(buf)


def read_frame():
    raw = read_exact(4)
    if raw is None:
        return None, None
    (length,) = struct.unpack("<I", raw)
    header = json.loads(read_exact(length).decode("utf-8"))
    blobs = {}
    for b in header.get("blobs", []):
        blobs[b["name"]] = read_exact(b["bytes"])
    return header, blobs


def write_frame(header, blobs=()):
    header = dict(header)
    header["blobs"] = [{"name": name, "bytes": len(data)} for name, data in blobs]
    encoded = json.dumps(header).encode("utf-8")
    out = sys.stdout.buffer
    out.write(struct.pack("<I", len(encoded)))
    out.write(encoded)
    for _, data in blobs:
        out.write(data)
    out.flush()


def tensor(data):
    return torch.frombuffer(bytearray(data), dtype=torch.float32).clone()


def as_bytes(t):
    return t.detach().contiguous().to(torch.float32).numpy().tobytes()


def main():
    sessions = {}
    while True:
        header, blobs = read_frame()
        if header is None:
            return
        try:
            cmd = header["cmd"]
            if cmd == "hello":
                write_frame({"torch": torch.__version__})
            elif cmd == "create":
                p = torch.nn.Parameter(tensor(blobs["params"]))
                opt = make(header["optimizer"], [p], header["hyper"])
                sessions[header["id"]] = (header["optimizer"], p, opt)
                write_frame({})
            elif cmd == "step":
                name, p, opt = sessions[header["id"]]
                with torch.no_grad():
                    if "param" in blobs:
                        p.copy_(tensor(blobs["param"]))
                    state = opt.state[p]
                    for key in STATE_NAMES[name]:
                        blob = blobs.get("state." + key)
                        if blob is None:
                            continue
                        if key not in state:
                            state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
                        state[key].copy_(tensor(blob))
                p.grad = tensor(blobs["grad"])
                opt.step()
                state = opt.state[p]
                step = state.get("step", 0)
                step = int(step.item()) if torch.is_tensor(step) else int(step)
                out = [("param", as_bytes(p))]
                for key in STATE_NAMES[name]:
                    out.append(("state." + key, as_bytes(state[key])))
                write_frame({"step": step}, out)
            elif cmd == "free":
                sessions.pop(header["id"], None)
                write_frame({})
            else:
                raise ValueError("unknown command " + str(cmd))
        except Exception as e:  # answer the error, keep serving
            write_frame({"error": "%s: %s" % (type(e).__name__, e)})


if __name__ == "__main__":
    main()
