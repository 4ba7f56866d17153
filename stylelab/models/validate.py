"""Checks every weight file passes before its tensors are used: readable (any low-level
failure becomes one clear error of the caller's kind) and finite (NaN/Inf refused)."""

from __future__ import annotations

import functools
import pickle
import zipfile
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])

#: What torch.load, pickle, zipfile and key/shape lookups raise on damaged files.
LOW_LEVEL = (EOFError, KeyError, IndexError, TypeError, AttributeError, RuntimeError,
             OSError, zipfile.BadZipFile, pickle.UnpicklingError, UnicodeDecodeError,
             ValueError, OverflowError, MemoryError)


def first_non_finite(tensors: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first floating-point tensor holding NaN or Inf, or None."""
    for name, tensor in tensors:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def as_error(error: type[Exception], what: str, keep: tuple[type[Exception], ...] = ()
             ) -> Callable[[F], F]:
    """Decorate a loader so that a damaged file (empty, text, truncated, wrong contents)
    raises ``error`` with one line naming ``what`` and the cause; errors of types ``keep``
    (and ``error`` itself) pass unchanged; a missing file stays FileNotFoundError-free:
    it becomes ``error`` too, saying the path does not exist."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except (error, *keep):
                raise
            except FileNotFoundError as exc:
                raise error(f"{what}: file not found ({exc.filename}); check the path") from exc
            except LOW_LEVEL as exc:
                detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise error(f"{what} is damaged or not that format ({detail}); download it "
                            "again or pass the right file") from exc

        return wrapper  # type: ignore[return-value]

    return decorate
