"""The weight cache: safetensors files with sha256 checks, and hub downloads.

Layout: ``<cache>/<name>.safetensors`` plus ``<cache>/<name>.sha256`` (the
hex digest written when the file was created). A file whose digest does not
match is never loaded. The cache directory is ``$STYLELAB_CACHE``, else
``$XDG_CACHE_HOME/stylelab``, else ``~/.cache/stylelab``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .fileio import atomic_write
from .models.validate import first_non_finite


class CacheError(RuntimeError):
    """The cache is unusable (not writable, corrupt file) or a download is impossible."""


def cache_dir(create: bool = True) -> Path:
    """The cache directory; raise :class:`CacheError` if it cannot be created or written."""
    env = os.environ.get("STYLELAB_CACHE")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "stylelab"
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
                pass
        except OSError as exc:
            raise CacheError(
                f"the stylelab cache directory {path} is not writable ({exc.strerror}); "
                "set STYLELAB_CACHE to a writable folder"
            ) from exc
    return path


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def encode_metadata(metadata: dict | None) -> dict[str, str]:
    """Safetensors metadata as :func:`save_checked` writes it: strings as they are, anything
    else as JSON (so a file's :func:`read_metadata` can be compared with it)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}


def save_checked(path: Path, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> str:
    """Write ``tensors`` as safetensors, plus its ``.sha256``; return the digest.

    Each file is written under a private temporary name and renamed into place, so
    processes converting the same weights at once never mix their writes (conversions are
    deterministic: whichever file and sidecar win, they agree)."""
    with atomic_write(path) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata=encode_metadata(metadata))
        digest = sha256_file(tmp)
        with atomic_write(path.with_suffix(".sha256")) as sidecar:
            sidecar.write_text(digest + "\n")
    return digest


def load_checked(path: Path, expected_sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Load a safetensors file after checking its digest (the sidecar's, or ``expected_sha256``).

    Raises :class:`CacheError` for a missing digest or a mismatch: such a file is never loaded;
    also for a file whose digest matches but which is not valid safetensors (a rewritten
    sidecar), and for tensors holding NaN or Inf.
    """
    sidecar = path.with_suffix(".sha256")
    expected = expected_sha256 or (
        sidecar.read_bytes().decode("ascii", "replace").strip() if sidecar.exists() else None)
    if expected is None:
        raise CacheError(f"{path} has no checksum ({sidecar.name}); delete it to rebuild")
    actual = sha256_file(path)
    if actual != expected:
        raise CacheError(
            f"{path} is corrupt or truncated (sha256 {actual[:12]}... != {expected[:12]}...); "
            "delete it and it will be rebuilt or downloaded again"
        )
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # SafetensorError, OSError, ...: never a raw library error
        raise _invalid(path, exc) from exc
    bad = first_non_finite(tensors.items())
    if bad is not None:
        raise CacheError(f"{path}: tensor {bad!r} holds NaN or Inf values; delete the file "
                         "and it will be rebuilt or downloaded again")
    return tensors


def read_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors file; :class:`CacheError` if it cannot be read."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            return dict(fh.metadata() or {})
    except Exception as exc:  # SafetensorError, OSError, ...: never a raw library error
        raise _invalid(path, exc) from exc


def _invalid(path: Path, exc: BaseException) -> CacheError:
    return CacheError(f"{path} is not a valid safetensors file ({type(exc).__name__}); "
                      "delete it and it will be rebuilt or downloaded again")


def hub_download(repo_id: str, filename: str, sha256: str | None = None,
                 revision: str | None = None) -> Path:
    """Download ``filename`` from the Hugging Face hub (or take it from the hub cache).

    The file's sha256 must equal ``sha256`` when given, else the hub's own LFS
    digest when the hub can be asked. Offline (``HF_HUB_OFFLINE=1`` or no
    network), only an already-cached file is used; otherwise a
    :class:`CacheError` says what to download and where to put it.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = Path(hf_hub_download(repo_id, filename, revision=revision))
    except LocalEntryNotFoundError as exc:
        raise CacheError(
            f"cannot download {filename} from https://huggingface.co/{repo_id} (offline or "
            "no network). Connect once to fill the hub cache, or download the file yourself "
            "and load it with stylelab.load_generator_file(path)"
        ) from exc
    expected = sha256 or _hub_lfs_sha256(repo_id, filename, revision)
    if expected and sha256_file(path) != expected:
        path.unlink(missing_ok=True)
        raise CacheError(f"{filename} from {repo_id} failed its sha256 check; it was removed, retry")
    return path


def _hub_lfs_sha256(repo_id: str, filename: str, revision: str | None) -> str | None:
    """The LFS sha256 the hub reports for a file, or None when offline / not an LFS file."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return None
    try:
        from huggingface_hub import HfApi

        info = HfApi().get_paths_info(repo_id, [filename], revision=revision)
        lfs = getattr(info[0], "lfs", None) if info else None
        return getattr(lfs, "sha256", None)
    except Exception:  # network errors: the download itself already succeeded
        return None
