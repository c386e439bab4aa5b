"""Numeric parameters given as ``--params name=value,...``: one reader for every analysis's
dataclass of parameters (each checks its own ranges after)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from palermo.errors import PalermoError


def numeric_params(
    cls: Any, values: dict[str, str], prefix: str = "", positive: bool = False
) -> dict[str, float | int]:
    """``values`` (names without ``prefix``) as keyword arguments for the dataclass ``cls``:
    int fields as int, the rest as float; an unknown name or a non-number is refused with the
    names it knows. ``positive``: every value must be > 0."""
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, float | int] = {}
    for name, raw in values.items():
        if name not in known:
            raise PalermoError(
                f"--params: unknown parameter {prefix + name!r}"
                f" (known: {', '.join(prefix + k for k in known)})"
            )
        try:
            value: float | int = int(raw) if known[name].type == "int" else float(raw)
        except ValueError:
            raise PalermoError(f"--params: {prefix}{name} must be a number, got {raw!r}") from None
        if positive and not value > 0:
            raise PalermoError(f"--params: {prefix}{name} must be > 0, got {raw!r}")
        kwargs[name] = value
    return kwargs
