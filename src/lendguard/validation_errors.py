"""Pydantic's validation errors in the words our configuration errors use."""

from __future__ import annotations

from pydantic_core import ErrorDetails


def describe(error: ErrorDetails) -> str:
    """One problem as ``where: what``, e.g. ``features.age.trend: input should be ...``."""
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                    for part in error["loc"]).lstrip(".")
    kind = error["type"]
    if kind == "missing":
        return f"{where}: required"
    if kind == "extra_forbidden":
        return f"{where}: unknown field"
    message = error["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if kind == "value_error":  # our own validators; the input is the whole model
        return f"{where}: {message}"
    return f"{where}: {message}, got {error['input']!r}"
