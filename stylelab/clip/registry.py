"""Which CLIP model a name means: :func:`load_clip`, :func:`register_clip`, status helpers.

Name grammar (first match wins):

1. a name given to :func:`register_clip` (constructed / tiny models);
2. ``"ViT-B/32"`` (:data:`DEFAULT_CLIP`, StyleCLIP's model with OpenAI weights): open_clip
   ``ViT-B-32``/``openai`` when open_clip imports, else transformers
   ``openai/clip-vit-base-patch32`` (the other backend is tried when weights are missing);
2b. ``"stylelab/faces-minilm"`` (:data:`FACES_MINILM`): the bundled face text-image model
   (:mod:`.faces_minilm`: trained here, works offline);
3. ``"open_clip:ARCH/PRETRAINED"``: PRETRAINED is a tag or a local weight file (split on the
   first ``/``: ``open_clip:ViT-B-32//abs/path/weights.safetensors``);
4. ``"open_clip:hf-hub:org/repo"`` or ``"hf-hub:org/repo"``: an open_clip hub repo;
5. ``"transformers:org/repo"`` or ``"transformers:/local/folder"``;
6. an existing local folder holding a ``config.json``: transformers.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..lru import LRUCache
from ._util import cached_hub_repos, hub_cache_dir
from .base import ClipError, ClipUnavailableError, TextImageModel

DEFAULT_CLIP = "ViT-B/32"
FACES_MINILM = "stylelab/faces-minilm"
OPENAI_B32_OPEN_CLIP = ("ViT-B-32", "openai")
OPENAI_B32_HF = "openai/clip-vit-base-patch32"
_OPENAI_B32_TIMM = "timm/vit_base_patch32_clip_224.openai"  # where open_clip's tag downloads from

FORMS = (
    f"'{DEFAULT_CLIP}' (the default: OpenAI ViT-B/32)",
    f"'{FACES_MINILM}' (the bundled face model: age, gender, expression, pose, hair, ...)",
    "'open_clip:ARCH/TAG' (e.g. open_clip:ViT-B-32/openai)",
    "'open_clip:ARCH//path/to/weights.safetensors' (a local open_clip weight file)",
    "'hf-hub:org/repo' or 'open_clip:hf-hub:org/repo' (an open_clip repo on the Hugging Face hub)",
    "'transformers:org/repo' or 'transformers:/path/to/folder' (a transformers CLIPModel)",
    "'/path/to/folder' (a local transformers CLIP folder with config.json)",
)
_OPEN_CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class _Entry:
    factory: Callable[[], TextImageModel]
    description: str


_REGISTERED: dict[str, _Entry] = {}
#: loaded models, least recently used first; at most ``$STYLELAB_CLIP_CACHE`` (default 2)
_CACHE: LRUCache[tuple[str, str], TextImageModel] = LRUCache(lambda: _cache_size())
_LOCK = threading.Lock()


def register_clip(name: str, factory: Callable[[], TextImageModel], description: str = ""
                  ) -> None:
    """Make ``load_clip(name)`` call ``factory()`` (replacing any earlier registration)."""
    if not name or not name.strip():
        raise ClipError("a registered CLIP model needs a non-empty name")
    with _LOCK:
        _REGISTERED[name.strip()] = _Entry(factory, description)
        _drop_cached(name.strip())


def unregister_clip(name: str) -> None:
    """Forget a registered name and its loaded models (no error if it was not registered)."""
    with _LOCK:
        _REGISTERED.pop(name.strip(), None)
        _drop_cached(name.strip())


def registered_clips() -> dict[str, str]:
    """Registered names -> descriptions."""
    with _LOCK:
        return {k: v.description for k, v in _REGISTERED.items()}


def clear_clip_cache() -> None:
    """Drop every loaded model (the next :func:`load_clip` builds afresh)."""
    _CACHE.clear()


def _drop_cached(name: str) -> None:
    _CACHE.discard(lambda key: key[0] != name)


def load_clip(name: str | None = None, device: str | torch.device = "cpu") -> TextImageModel:
    """The frozen :class:`TextImageModel` for ``name`` (default: :func:`preferred_clip`) on
    ``device`` (cached, thread-safe).

    Raises :class:`ClipError` for a name outside the grammar (the message lists the forms)
    and :class:`ClipUnavailableError` when the weights or the backend package are missing
    (the message lists what is available and how to get weights).
    """
    name = (name or "").strip() or preferred_clip()
    key = (_canonical(name), str(torch.device(device)))

    def load() -> TextImageModel:  # once per key; other names load concurrently
        try:
            return _resolve(name)(key[1])
        except ClipUnavailableError as e:
            raise ClipUnavailableError(f"CLIP model '{name}' is not available: {e}\n"
                                       f"{_advice()}") from e

    return _CACHE.get_or_create(key, load)


def _cache_size() -> int:
    try:
        return max(1, int(os.environ.get("STYLELAB_CLIP_CACHE", "2")))
    except ValueError:
        return 2


def _canonical(name: str) -> str:
    """One cache key per model: local paths (``//tmp/x``, ``/tmp/./x``) are resolved, so a
    file spelled differently is not loaded again."""
    with _LOCK:
        if name in _REGISTERED:
            return name
    for prefix in ("transformers:", ""):
        rest = name[len(prefix):]
        if name.startswith(prefix) and os.path.isabs(_expand(rest)):
            return prefix + os.path.realpath(_expand(rest))
    if name.startswith("open_clip:") and "//" in name:
        arch, _, path = name[len("open_clip:"):].partition("/")
        if os.path.isabs(_expand(path)):
            return f"open_clip:{arch}/{os.path.realpath(_expand(path))}"
    return name


def _resolve(name: str) -> Callable[[str], TextImageModel]:
    """``name`` -> a loader ``device -> model``, or :class:`ClipError` listing the forms."""
    with _LOCK:
        entry = _REGISTERED.get(name)
    if entry is not None:
        return lambda device: _from_factory(name, entry.factory, device)
    if name == DEFAULT_CLIP:
        return _load_default
    if name == FACES_MINILM:
        return _load_faces_minilm
    if name.startswith("open_clip:"):
        return _open_clip_loader(name, name[len("open_clip:"):])
    if name.startswith("hf-hub:"):
        return _open_clip_loader(name, name)
    if name.startswith("transformers:"):
        source = name[len("transformers:"):].strip()
        if not source:
            raise ClipError(f"'{name}': give a hub id or a folder after 'transformers:'")
        return lambda device: _load_hf(_expand(source), device)
    if os.path.isfile(os.path.join(_expand(name), "config.json")):
        return lambda device: _load_hf(_expand(name), device)
    raise ClipError(_unknown_message(name))


def _expand(path: str) -> str:
    return os.path.expanduser(path) if path.startswith("~") else path


def _open_clip_loader(name: str, spec: str) -> Callable[[str], TextImageModel]:
    if spec.startswith("hf-hub:"):
        if len(spec) <= len("hf-hub:") or "/" not in spec:
            raise ClipError(f"'{name}': expected 'hf-hub:org/repo'")
        return lambda device: _load_open_clip(spec, None, device)
    arch, sep, pretrained = spec.partition("/")
    if not arch or not sep or not pretrained:
        raise ClipError(f"'{name}': expected 'open_clip:ARCH/TAG' or 'open_clip:ARCH//path/to/"
                        "weights' (e.g. open_clip:ViT-B-32/openai)")
    return lambda device: _load_open_clip(arch, _expand(pretrained), device)


def _from_factory(name: str, factory: Callable[[], TextImageModel], device: str
                  ) -> TextImageModel:
    model = factory()
    if not isinstance(model, TextImageModel):
        raise ClipError(f"the factory registered as '{name}' returned "
                        f"{type(model).__name__}, not a TextImageModel")
    return model.to(device).freeze()


def _load_open_clip(arch: str, pretrained: str | None, device: str) -> TextImageModel:
    from .openclip import load_open_clip

    return load_open_clip(arch, pretrained, device)


def _load_hf(source: str, device: str) -> TextImageModel:
    from .hf import load_transformers_clip

    return load_transformers_clip(source, device)


def _load_faces_minilm(device: str) -> TextImageModel:
    from .faces_minilm import load_faces_minilm

    return load_faces_minilm(device)


def _load_default(device: str) -> TextImageModel:
    """OpenAI ViT-B/32 through open_clip, else through transformers; both reasons on failure."""
    try:
        return _load_open_clip(*OPENAI_B32_OPEN_CLIP, device)
    except ClipUnavailableError as open_clip_error:
        try:
            return _load_hf(OPENAI_B32_HF, device)
        except ClipUnavailableError as hf_error:
            raise ClipUnavailableError(f"open_clip: {open_clip_error}; transformers: "
                                       f"{hf_error}") from hf_error


def _unknown_message(name: str) -> str:
    registered = ", ".join(sorted(registered_clips())) or "none"
    return (f"unknown CLIP model '{name}'. Accepted forms: " + "; ".join(FORMS)
            + f". Registered names: {registered}.")


def available_clip_models() -> list[str]:
    """Names :func:`load_clip` can serve now: registered, then the default (when its weights
    are cached), then other CLIP repos in the Hugging Face hub cache, then the bundled
    :data:`FACES_MINILM` (when installed): first when no CLIP is cached."""
    defaults: list[str] = []
    others: list[str] = []
    for repo_id, files in sorted(cached_hub_repos("clip").items()):
        if repo_id == _OPENAI_B32_TIMM and _has(files, _OPEN_CLIP_WEIGHTS):
            defaults += [DEFAULT_CLIP, "open_clip:{}/{}".format(*OPENAI_B32_OPEN_CLIP)]
        if repo_id == OPENAI_B32_HF and _has(files, _HF_WEIGHTS):
            defaults.append(DEFAULT_CLIP)
        if "open_clip_config.json" in files and _has(files, _OPEN_CLIP_WEIGHTS):
            others.append(f"hf-hub:{repo_id}")
        if "config.json" in files and _has(files, _HF_WEIGHTS):
            others.append(f"transformers:{repo_id}")
    from .faces_minilm import faces_minilm_available

    bundled = [FACES_MINILM] if faces_minilm_available() else []
    return list(dict.fromkeys([*registered_clips(), *sorted(defaults), *others, *bundled]))


def preferred_clip(available: list[str] | None = None) -> str:
    """The model used when none is named: :data:`DEFAULT_CLIP` when its weights are cached,
    else another cached CLIP, else the bundled :data:`FACES_MINILM` when installed, else
    :data:`DEFAULT_CLIP` (whose loading error then says how to get weights). Registered
    names (tests, plugins) are never chosen implicitly."""
    registered = set(registered_clips())
    found = [n for n in (available_clip_models() if available is None else available)
             if n not in registered]
    if DEFAULT_CLIP in found:
        return DEFAULT_CLIP
    return next((n for n in found if n != FACES_MINILM),
                FACES_MINILM if FACES_MINILM in found else DEFAULT_CLIP)


def _has(files: set[str], wanted: tuple[str, ...]) -> bool:
    return any(f in files for f in wanted)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _how_to_get() -> str:
    return (f"To get one: run once with internet access (weights are downloaded into the "
            f"Hugging Face hub cache at {hub_cache_dir()}; the default {DEFAULT_CLIP} is about "
            "600 MB), or pass a local transformers CLIP folder ('transformers:/path/to/folder') "
            "or an open_clip weight file ('open_clip:ViT-B-32//path/to/weights.safetensors').")


def _advice() -> str:
    available = ", ".join(available_clip_models()) or "none"
    return f"CLIP models available now: {available}. {_how_to_get()}"


def clip_status() -> str:
    """One paragraph for people: what is available, which backends are installed, what to do."""
    backends = ", ".join(f"{pkg} {'installed' if _installed(mod) else 'missing'}"
                         for pkg, mod in (("open_clip_torch", "open_clip"),
                                          ("transformers", "transformers")))
    available = available_clip_models()
    if available:
        return (f"CLIP models available: {', '.join(available)} (backends: {backends}). "
                f"load_clip() uses {preferred_clip(available)} unless told otherwise.")
    install = ""
    if not (_installed("open_clip") or _installed("transformers")):
        install = ("Install a backend first (pip install open_clip_torch with a matching "
                   "torchvision, or pip install transformers). ")
    return (f"No CLIP model is available: none is registered and the Hugging Face cache "
            f"({hub_cache_dir()}) holds no CLIP weights (backends: {backends}). "
            f"{install}{_how_to_get()}")
