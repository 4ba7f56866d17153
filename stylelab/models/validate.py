"""Checks every weight file passes before its tensors are used: readable (any low-level
failure becomes one clear error of the caller's kind) and finite (NaN/Inf refused)."""

from __future__ import annotations

import functools
import math
import pickle
import zipfile
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])

#: What torch.load, pickle, zipfile and key/shape lookups raise on damaged files.
LOW_LEVEL = (EOFError, KeyError, IndexError, TypeError, AttributeError, RuntimeError,
             OSError, zipfile.BadZipFile, pickle.UnpicklingError, UnicodeDecodeError,
             ValueError, OverflowError)

#: Lines of torch's weights-only errors that explain torch, not the file (one of them
#: even suggests ``weights_only=False``, which would run the file's code).
_BOILERPLATE = ("Weights only load failed", "Check the documentation", "Please file an issue",
                "(1) ", "(2) ")
_TORCH_CAUSE = "WeightsUnpickler error: "
_NUMPY_FLOATS = (torch.float16, torch.float32, torch.float64)


class CheckpointFormatError(ValueError):
    """The checkpoint is not (this format of) a StyleGAN2 generator, or it is damaged."""


def first_non_finite(tensors: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first floating-point tensor holding NaN or Inf, or None.

    One min/max pass per tensor (NaN propagates to both, an Inf is one of them), with numpy
    on the CPU: about 3 ms for the 10M weights of MobileStyleGAN, against about 50 ms for
    ``torch.isfinite(t).all()`` (a mask as large as the tensor) and up to 90 ms for torch
    reductions whose thread pool stalls on a busy 2-core CPU.
    """
    for name, tensor in tensors:
        if tensor.is_floating_point() and tensor.numel() and not _finite(tensor.detach()):
            return name
    return None


def _finite(tensor: torch.Tensor) -> bool:
    if tensor.device.type == "cpu" and tensor.dtype in _NUMPY_FLOATS:
        array = tensor.numpy(force=True)  # a view, no copy
        low, high = array.min(), array.max()
    else:  # bfloat16 (no numpy dtype), accelerators
        low, high = torch.aminmax(tensor)
    return math.isfinite(low) and math.isfinite(high)


def brief(exc: BaseException, limit: int = 160) -> str:
    """The first informative sentence of ``exc``'s message, on one line (torch's
    boilerplate skipped; the type name when the message is empty)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    causes = [line.split(_TORCH_CAUSE, 1)[1] for line in lines if _TORCH_CAUSE in line]
    useful = causes or [line for line in lines if not line.startswith(_BOILERPLATE)] or lines
    if not useful:
        return type(exc).__name__
    text = useful[0]
    end = text.find(". ")
    text = text[:end] if end > 0 else text.rstrip(".")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def damaged(error: type[Exception], what: str, exc: BaseException) -> Exception:
    """``error`` saying that ``what`` is damaged (with ``exc``'s gist) and what to do."""
    return error(f"{what} is damaged or not that format ({brief(exc)}); download it again "
                 "or pass the right file")


def as_error(error: type[Exception], what: str) -> Callable[[F], F]:
    """Decorate a loader so that a damaged file (empty, text, truncated, wrong contents)
    raises ``error`` with one line naming ``what`` and the cause; ``error`` itself (and its
    subclasses) pass unchanged; a missing file becomes ``error`` saying the path does not
    exist."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except error:
                raise
            except FileNotFoundError as exc:
                raise error(f"{what}: file not found ({exc.filename}); check the path") from exc
            except LOW_LEVEL as exc:
                raise damaged(error, what, exc) from exc

        return wrapper  # type: ignore[return-value]

    return decorate
