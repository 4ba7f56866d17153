"""Writing results safely: atomic files (temp file in the same folder, then rename, so an
interrupted run never leaves half a PNG), fast PNGs, and the output checks every writing
command shares (never an input file, never an earlier result unless asked)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

#: zlib level for result PNGs: 1 writes a 1024px face about 5x faster than Pillow's
#: default (6) for files about 13% larger (benchmarks/generator.py --cli); still lossless.
PNG_LEVEL = 1


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: mode of written files: what ``open()`` would give (mkstemp's temporary files are 0600)
FILE_MODE = 0o666 & ~_umask()


class OutputError(ValueError):
    """An output path that cannot or must not be written (message says what to do)."""


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step,
    on failure it is removed and ``path`` is untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_png(image: Image.Image, path: str | Path, level: int = PNG_LEVEL) -> Path:
    """Write ``image`` as a PNG atomically; returns the path."""
    with atomic_write(path) as tmp:
        image.save(tmp, format="PNG", compress_level=level)
    return Path(path)


def save_pngs(items: Iterable[tuple[Image.Image, str | Path]], ahead: int = 2
              ) -> Iterator[Path]:
    """Write each ``(image, path)`` with :func:`save_png` in one writer thread while the
    caller produces the next (zlib and Pillow release the GIL); yields the paths in order.

    At most ``ahead`` images wait for the writer, so memory stays bounded however many
    images there are. A failed write raises from this iterator; stopping early (an error,
    Ctrl-C) still finishes the writes already queued, each whole.
    """
    if ahead < 1:
        raise ValueError(f"ahead must be at least 1, got {ahead}")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="png-writer") as writer:
        pending: deque = deque()
        for image, path in items:
            pending.append(writer.submit(save_png, image, path))
            while len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically."""
    with atomic_write(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output_file(out: str | Path, inputs: Iterable[str | Path] = (),
                      overwrite: bool = False, example: str = "face.png") -> Path:
    """``out`` as a file to write: never one of ``inputs`` (whatever the flags), an
    existing file only with ``overwrite``, and its folder created and writable.
    ``example`` is the file name suggested when ``out`` is a folder."""
    out = Path(out)
    for source in inputs:
        if _same(out, Path(source)) or out.resolve() == Path(source).resolve():
            raise OutputError(f"--out {out} is the input file; choose another output path")
    if out.is_dir():
        raise OutputError(f"--out {out} is a folder; give a file path such as {out / example}")
    if out.exists() and not overwrite:
        raise OutputError(f"{out} exists; choose another path or pass --overwrite")
    _writable_folder(out.parent)
    return out


def check_output_dir(out: str | Path, inputs: Iterable[str | Path] = (),
                     names: Iterable[str] | None = None, overwrite: bool = False) -> Path:
    """``out`` as a results folder: not an existing file, not holding any input, and
    (unless ``overwrite``) holding none of ``names`` (default: empty or missing)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder for the results")
    names = None if names is None else list(names)
    targets = {(out / n).resolve() for n in names or ()}
    for source in inputs:
        source = Path(source).resolve()
        if (names is None and source.parent == out.resolve()) or source in targets:
            raise OutputError(f"--out {out} would overwrite the input {source.name}; "
                              "choose another folder")
    if out.is_dir() and not overwrite:
        clash = [n for n in names if (out / n).exists()] if names is not None else \
            [p.name for p in out.iterdir()]
        if clash:
            raise OutputError(f"{out} already holds results ({', '.join(sorted(clash)[:3])}); "
                              "choose another folder or pass --overwrite")
    _writable_folder(out)
    return out


def _writable_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write to {folder} ({exc.strerror or exc}); "
                          "choose a writable place for --out") from None
