"""CLIP test fixtures: a fake Hugging Face hub cache per module and a toy TextImageModel."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from stylelab.clip import TextImageModel
from stylelab.clip.registry import clear_clip_cache

PutRepo = Callable[[str, dict[str, Path]], Path]


def _put_repo(cache: Path, repo_id: str, files: dict[str, Path]) -> Path:
    """Lay ``files`` out as the hub cache does: blobs/, snapshots/<sha>/ symlinks, refs/main."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    sha = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    for name, src in files.items():
        data = Path(src).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        try:
            (snapshot / name).symlink_to(os.path.relpath(blob, snapshot))
        except OSError:  # no symlinks (Windows without privileges): a copy works too
            shutil.copyfile(blob, snapshot / name)
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> Iterator[Path]:
    """An empty, offline Hugging Face hub cache for this module (env and constants patched)."""
    from huggingface_hub import constants

    cache = tmp_path_factory.mktemp("hf-hub-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_CACHE", str(cache))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(constants, "HF_HUB_CACHE", str(cache))
        mp.setattr(constants, "HF_HUB_OFFLINE", True)
        clear_clip_cache()
        yield cache
        clear_clip_cache()


@pytest.fixture(scope="module")
def put_repo(hub_cache: Path) -> PutRepo:
    """``put_repo("org/name", {"file.json": path, ...})`` -> the snapshot folder."""
    return lambda repo_id, files: _put_repo(hub_cache, repo_id, files)


class ToyClip(TextImageModel):
    """A constructed 8-D text-image model: bytes -> embedding bag, pixels -> linear map."""

    name = "toy"
    embed_dim = 8
    image_size = 16
    context_length = 12

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.image_proj = nn.Linear(3 * 16 * 16, 8)
        self.byte_embed = nn.Embedding(256, 8)

    def _encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.image_proj(pixels.flatten(1))

    def _encode_text(self, prompts: list[str]) -> torch.Tensor:
        ids = [torch.tensor(list(p.encode()[: self.context_length - 2])) for p in prompts]
        return torch.stack([self.byte_embed(i.to(self.device)).mean(0) for i in ids])

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.encode()) + 2


@pytest.fixture
def toy_clip() -> type[ToyClip]:
    """The :class:`ToyClip` class (a factory for :func:`stylelab.clip.register_clip`)."""
    return ToyClip
