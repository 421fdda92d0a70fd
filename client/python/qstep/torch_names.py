"""torch's and bitsandbytes' vocabulary for RemoteOptimizer: optimizer names ("AdamW8bit", "PagedAdamW", "SGD"),
the hyperparameters each optimizer keeps in its param groups (torch's names: momentum, alpha, betas, ...), and how
they become qstep settings (momentum and RMSprop's alpha are betas[0] on the wire). client/python/README.md has the
table."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

import grpc

from . import config as cfg
from .errors import QstepError, invalid, quote

# Hyperparameters each optimizer keeps in its param groups, under torch's names.
GROUP_KEYS = {
    "adam": ("lr", "betas", "eps", "weight_decay"),
    "adamw": ("lr", "betas", "eps", "weight_decay"),
    "lamb": ("lr", "betas", "eps", "weight_decay"),
    "lion": ("lr", "betas", "weight_decay"),
    "ademamix": ("lr", "betas", "alpha", "eps", "weight_decay", "t_alpha", "t_beta3"),
    "sgd": ("lr", "momentum", "weight_decay"),
    "lars": ("lr", "momentum", "weight_decay"),
    "rmsprop": ("lr", "alpha", "eps", "weight_decay"),
    "adagrad": ("lr", "eps", "weight_decay"),
}
BETA_COUNT = {"adam": 2, "adamw": 2, "lamb": 2, "lion": 2, "ademamix": 3}
# bitsandbytes' layout settings (and qstep's block_size), passed through as the model's layout.
LAYOUT_SETTINGS = ("optim_bits", "block_wise", "block_size", "min_8bit_size", "min8bit_size", "percentile_clipping",
                   "max_unorm", "is_paged", "paged", "skip_zeros")
# torch / bnb arguments qstep does not implement: accepted only at the value that means "off".
UNSUPPORTED_UNLESS = {"amsgrad": False, "nesterov": False, "dampening": 0, "maximize": False, "centered": False,
                      "lr_decay": 0, "initial_accumulator_value": 0, "args": None}
# Implementation switches of torch's optimizers; they change nothing here.
IGNORED = ("foreach", "fused", "capturable", "differentiable")


def parse_optimizer(name: str) -> Tuple[str, Dict[str, Any]]:
    """'adamw', 'AdamW8bit', 'PagedAdamW32bit', 'SGD', 'Momentum8bit', ... -> (qstep name, implied layout)."""
    if not isinstance(name, str):
        raise invalid(f"optimizer: expected a name such as 'adamw' or 'AdamW8bit', got {quote(name)}")
    n = name.lower().replace("_", "")
    implied: Dict[str, Any] = {}
    if n.startswith("paged"):
        implied["paged"] = True
        n = n[len("paged"):]
    for suffix, bits in (("8bit", 8), ("32bit", 32)):
        if n.endswith(suffix):
            implied["optim_bits"] = bits
            n = n[: -len(suffix)]
    n = {"momentum": "sgd"}.get(n, n)
    if n not in GROUP_KEYS:
        raise invalid(f"optimizer: unknown optimizer {quote(name)} (qstep has {', '.join(GROUP_KEYS)}, with bnb's "
                      "8bit/32bit suffixes and Paged prefix)")
    return n, implied


def group_to_hyper(optimizer: str, group: Mapping[str, Any]) -> Dict[str, Any]:
    """A param group's values (torch names) as qstep Hyperparameters settings."""
    out: Dict[str, Any] = {}
    for key in GROUP_KEYS[optimizer]:
        if key not in group:
            continue
        v = group[key]
        if key == "momentum" or (key == "alpha" and optimizer == "rmsprop"):
            out["betas"] = [v]
        elif key == "betas":
            out["betas"] = list(v)
        else:
            out[key] = v
    return out


def server_defaults(info, optimizer: str) -> Dict[str, Any]:
    """The server's defaults for `optimizer` (ServerInfo.capabilities) under torch's names."""
    for cap in info.capabilities.optimizers:
        if cfg.optimizer_name(cap.optimizer) == optimizer:
            d = cap.defaults
            betas = list(d.betas)
            values = {"lr": d.lr, "eps": d.eps, "weight_decay": d.weight_decay, "t_alpha": d.t_alpha,
                      "t_beta3": d.t_beta3}
            if optimizer in BETA_COUNT:
                values["betas"] = tuple(betas[: BETA_COUNT[optimizer]])
                values["alpha"] = d.alpha
            else:
                values["momentum"] = values["alpha"] = betas[0] if betas else 0.0
            return {k: values[k] for k in GROUP_KEYS[optimizer]}
    raise QstepError(grpc.StatusCode.FAILED_PRECONDITION,
                     f"the server does not offer the {optimizer} optimizer")


def split_settings(optimizer: str, settings: Mapping[str, Any], base_layout: Mapping[str, Any], where: str):
    """(hyperparameters under torch names, layout settings) of one set of keyword settings."""
    hyper: Dict[str, Any] = {}
    layout: Dict[str, Any] = dict(base_layout)
    keys = GROUP_KEYS[optimizer]
    for key, value in settings.items():
        if key in keys:
            if key == "betas":
                try:
                    betas = tuple(float(b) for b in value)
                except (TypeError, ValueError):
                    raise invalid(f"{where}: betas must be numbers, got {quote(value)}") from None
                want = BETA_COUNT[optimizer]
                if len(betas) != want:
                    raise invalid(f"{where}: {optimizer} takes {want} betas, got {quote(value)}")
                value = betas
            hyper[key] = value
        elif key in LAYOUT_SETTINGS:
            layout[key] = value
        elif key in UNSUPPORTED_UNLESS:
            if value != UNSUPPORTED_UNLESS[key]:
                raise invalid(f"{where}: {key}={quote(value)} is not supported by qstep's "
                              f"{optimizer}")
        elif key == "momentum" and optimizer == "rmsprop":
            if value:
                raise invalid(f"{where}: RMSprop with momentum is not supported by qstep")
        elif key in IGNORED or key == "params":
            continue
        else:
            raise invalid(f"{where}: {quote(key)} is not a setting of {optimizer} "
                          f"(expected one of {', '.join(keys + LAYOUT_SETTINGS)})")
    return hyper, layout
