"""Small helpers shared by the CLIP backends and the registry (no heavy imports here).

- :func:`offline_mode`: is the Hugging Face hub switched off (``HF_HUB_OFFLINE``)?
- :func:`short_error`: one readable line from a (possibly huge) third-party exception.
- :func:`is_missing_weights`: does an exception chain mean "files not found / not downloadable"?
- :func:`hub_cache_dir`, :func:`cached_hub_repos`: what the Hugging Face hub cache holds.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_MISSING_MODULES = ("huggingface_hub", "httpx", "requests", "urllib3", "urllib")


def offline_mode() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set to a true value."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in _TRUE


def short_error(exc: BaseException, limit: int = 300) -> str:
    """``"TypeName: first line"`` of ``exc``, cut to ``limit`` characters."""
    text = str(exc).strip().splitlines()
    line = text[0] if text else ""
    line = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def is_missing_weights(exc: BaseException) -> bool:
    """True when ``exc`` (or anything it was raised from) is a file / hub / network error."""
    for e in _chain(exc):
        if isinstance(e, (OSError, ImportError)):
            return True
        if type(e).__module__.split(".")[0] in _MISSING_MODULES:
            return True
        if "download" in str(e).lower() and "fail" in str(e).lower():
            return True
    return False


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception ``exc`` was raised from."""
    return _chain(exc)[-1]


TORCHVISION_HINT = ("torchvision is missing or does not match the installed torch: install the "
                    "torchvision wheel built for your torch (pip install torch torchvision from "
                    "the same index)")


def mentions_torchvision(exc: BaseException) -> bool:
    """True when the chain shows torchvision failing to load (a build not matching torch)."""
    return any("torchvision" in f"{type(e).__module__} {e}" for e in _chain(exc))


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder in use (``huggingface_hub.constants.HF_HUB_CACHE``)."""
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except Exception:  # noqa: BLE001 - huggingface_hub missing or broken
        return Path(os.environ.get("HF_HUB_CACHE") or "~/.cache/huggingface/hub").expanduser()


def cached_hub_repos(keyword: str = "clip") -> dict[str, set[str]]:
    """Model repos in the hub cache whose id contains ``keyword`` -> the file names they hold.

    Never raises: a missing, empty or corrupt cache gives ``{}``.
    """
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir(hub_cache_dir())
    except Exception:  # noqa: BLE001 - no cache yet, unreadable cache, old huggingface_hub
        return {}
    repos: dict[str, set[str]] = {}
    for repo in getattr(info, "repos", ()):
        if getattr(repo, "repo_type", "model") != "model" or keyword not in repo.repo_id.lower():
            continue
        names = {f.file_name for rev in repo.revisions for f in rev.files}
        repos[repo.repo_id] = names
    return repos
