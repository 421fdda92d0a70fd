"""Optimizer settings as keyword arguments (the proto's snake_case names, plus bitsandbytes' spellings) turned into
the wire's OptimizerConfig, Hyperparameters, Layout and ParamOverride messages. Unknown keys are refused: a typo
must not silently do nothing. Ranges are the server's to check (it answers INVALID_ARGUMENT).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from ._proto import common_pb2
from .errors import invalid, quote

HYPER_KEYS = ("lr", "betas", "eps", "weight_decay", "alpha", "t_alpha", "t_beta3", "skip_zeros")
LAYOUT_KEYS = ("optim_bits", "block_wise", "block_size", "min8bit_size", "percentile_clipping", "max_unorm", "paged")
# bitsandbytes' spellings of the same settings.
ALIASES = {"min_8bit_size": "min8bit_size", "is_paged": "paged"}

OPTIMIZERS = ("adam", "adamw", "lion", "sgd", "rmsprop", "adagrad", "lamb", "lars", "ademamix")
NON_FINITE = {"skip": common_pb2.NON_FINITE_POLICY_SKIP, "error": common_pb2.NON_FINITE_POLICY_ERROR}


def optimizer_enum(name: str) -> int:
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise invalid(f"optimizer: expected one of {', '.join(OPTIMIZERS)}, got {quote(name)}")
    return common_pb2.Optimizer.Value("OPTIMIZER_" + name.upper())


def optimizer_name(value: int) -> str:
    return common_pb2.Optimizer.Name(value)[len("OPTIMIZER_"):].lower()


def _canonical(settings: Mapping[str, Any], where: str, allowed) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in settings.items():
        k = ALIASES.get(key, key)
        if k not in allowed:
            raise invalid(f"{where}: unknown setting {quote(key)} (expected one of {', '.join(allowed)})")
        if value is not None:
            out[k] = value
    return out


def hyper_message(settings: Optional[Mapping[str, Any]], where: str = "hyper") -> common_pb2.Hyperparameters:
    msg = common_pb2.Hyperparameters()
    for k, v in _canonical(settings or {}, where, HYPER_KEYS).items():
        try:
            if k == "betas":
                msg.betas.extend(float(b) for b in v)
            elif k == "skip_zeros":
                msg.skip_zeros = bool(v)
            else:
                setattr(msg, k, float(v))
        except (TypeError, ValueError):
            raise invalid(f"{where}.{k}: expected a number{'s' if k == 'betas' else ''}, got {quote(v)}") from None
    return msg


def layout_message(settings: Optional[Mapping[str, Any]], where: str = "layout") -> common_pb2.Layout:
    msg = common_pb2.Layout()
    for k, v in _canonical(settings or {}, where, LAYOUT_KEYS).items():
        try:
            if k in ("block_wise", "paged"):
                setattr(msg, k, bool(v))
            elif k == "max_unorm":
                msg.max_unorm = float(v)
            else:
                if isinstance(v, bool) or int(v) != v or v < 0:
                    raise ValueError
                setattr(msg, k, int(v))
        except (TypeError, ValueError):
            raise invalid(f"{where}.{k}: expected a non-negative integer or flag, got {quote(v)}") from None
    return msg


def split_settings(settings: Mapping[str, Any], where: str):
    """(hyper settings, layout settings) of one flat settings dict; unknown keys refused."""
    flat = _canonical(settings, where, HYPER_KEYS + LAYOUT_KEYS)
    return ({k: v for k, v in flat.items() if k in HYPER_KEYS}, {k: v for k, v in flat.items() if k in LAYOUT_KEYS})


def optimizer_config(optimizer: str, settings: Mapping[str, Any], non_finite: Optional[str] = None) -> common_pb2.OptimizerConfig:
    hyper, layout = split_settings(settings, "optimizer settings")
    cfg = common_pb2.OptimizerConfig(
        optimizer=optimizer_enum(optimizer), hyper=hyper_message(hyper), layout=layout_message(layout))
    if non_finite is not None:
        cfg.non_finite = policy_enum(non_finite)
    return cfg


def policy_enum(name: str) -> int:
    if name not in NON_FINITE:
        raise invalid(f"non_finite: expected 'skip' or 'error', got {quote(name)}")
    return NON_FINITE[name]


def override_message(settings: Mapping[str, Any], where: str) -> common_pb2.ParamOverride:
    hyper, layout = split_settings(settings, where)
    return common_pb2.ParamOverride(hyper=hyper_message(hyper, where), layout=layout_message(layout, where))
