"""Age, gender and expression of face crops with face-api.js' networks (differentiable).

>>> fa = FaceAttributes()                           # or FaceAttributes.from_dir("faceapi/")
>>> out = fa.predict(images, ffhq_aligned=True)     # images (N, 3, 256, 256) in [-1, 1]
>>> out["age"], out["gender_male_prob"], out["expressions"][:, EXPRESSIONS.index("happy")]

Weights (face-api.js, MIT licence, (c) 2018 Vincent Mühler) come from, in order:
a folder given by the user (``from_dir``), the stylelab cache (converted
safetensors with a sha256 sidecar), or a download of the TF.js files from
face-api.js' GitHub repository, checked against :data:`FACEAPI_FILES` and
converted once into the cache. Offline, a :class:`~stylelab.cache.CacheError`
lists the files to download by hand.

Preprocessing follows face-api's ``NetInput.toBatchTensor(112)``: the crop is
padded with black to a centred square and resized to 112x112 (here bilinear
with antialiasing, like a browser canvas; TF.js' own ``resizeBilinear`` is
used only for tensor inputs). face-api feeds the face's aligned box, computed
from 68 landmarks (``FaceLandmarks.align``); :func:`ffhq_face_box` is that box
averaged over FFHQ-aligned faces.
"""

from __future__ import annotations

import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...cache import CacheError, cache_dir, load_checked, save_checked, sha256_file
from .nets import INPUT_SIZE, AgeGenderNet, FaceExpressionNet, tfjs_to_torch
from .tfjs import TFJSFormatError, manifest_path, read_tfjs_weights

EXPRESSIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")

FACEAPI_URL = "https://raw.githubusercontent.com/justadudewhohacks/face-api.js/master/weights/"
# sha256 of the upstream files (face-api.js git a86f011d; unchanged on master since 2019)
FACEAPI_FILES = {
    "age_gender_model-weights_manifest.json":
        "780ca481c12f6501c63e3551caa4df9bc4a05ffc5357060079b75badfd350d86",
    "age_gender_model-shard1": "49f92bbc0afef2342c4385e4a2b0acb6d7a727c6f0aa539499719a81acf9abaa",
    "face_expression_model-weights_manifest.json":
        "960cbe959fe0328965dd18662d839f197df6e27607da4f726cd0c826e47fc936",
    "face_expression_model-shard1": "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
}
MODELS = {"age_gender": ("age_gender_model", AgeGenderNet),
          "expression": ("face_expression_model", FaceExpressionNet)}

# face-api's landmark-aligned face box (FaceLandmarks.align: side = eye-to-mouth / 0.45, centred
# at x 0.5 / y 0.43 on the eyes+mouth centroid), averaged over 64 FFHQ-aligned MobileStyleGAN faces
# (dlib 68 landmarks; std of each edge <= 0.017). (left, top, right, bottom) as image fractions.
FFHQ_FACE_BOX = (0.17, 0.28, 0.83, 0.94)


# --------------------------------------------------------------------- face crops


def ffhq_face_box(size: int) -> tuple[int, int, int, int]:
    """Square pixel box ``(left, top, right, bottom)`` (right/bottom exclusive) of the face in an
    FFHQ-aligned ``size`` x ``size`` image (e.g. 256 -> (44, 72, 213, 241))."""
    left, top, right, _ = FFHQ_FACE_BOX
    x, y, side = round(left * size), round(top * size), round((right - left) * size)
    return x, y, x + side, y + side


def crop_ffhq_face(images: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) FFHQ-aligned images -> (N, C, s, s) face crops (s ~ 0.66 S), differentiable."""
    if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
        raise ValueError(f"expected square images (N, C, S, S), got {tuple(images.shape)}")
    left, top, right, bottom = ffhq_face_box(images.shape[-1])
    return images[..., top:bottom, left:right]


def to_net_input(crops: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) crops in [-1, 1] -> (N, 3, 112, 112) pixels in [0, 255], as face-api's NetInput.

    The smaller side is padded with black to a centred square (the odd pixel
    after the image, as ``padToSquare``), then resized bilinearly.
    """
    if crops.ndim != 4 or crops.shape[1] != 3:
        raise ValueError(f"expected RGB images (N, 3, H, W) in [-1, 1], got {tuple(crops.shape)}")
    x = (crops.float().clamp(-1, 1) + 1) * 127.5
    h, w = x.shape[-2:]
    diff = abs(h - w)
    after = int(diff / 2 + 0.5)  # JavaScript Math.round
    pads = [diff - after, after, 0, 0] if h > w else [0, 0, diff - after, after]
    if diff:
        x = F.pad(x, pads, value=0.0)
    if x.shape[-1] != INPUT_SIZE:
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > INPUT_SIZE)
    return x


# --------------------------------------------------------------------- weights


def load_net(kind: str, weights_dir: str | Path | None = None,
             device: str | torch.device = "cpu") -> nn.Module:
    """One face-api net (``"age_gender"`` or ``"expression"``) in eval mode, parameters frozen.

    From ``weights_dir`` (TF.js manifest + shard) when given, else from the cache,
    else downloaded (see the module docstring). Raises :class:`CacheError` when
    no source works and :class:`~.tfjs.TFJSFormatError` / ``KeyError`` for bad files.
    """
    if kind not in MODELS:
        raise ValueError(f"unknown face-api net {kind!r}; choose from {sorted(MODELS)}")
    model, cls = MODELS[kind]
    with torch.inference_mode(False):  # loaded under inference_mode, the net must still allow autograd
        net = cls()
        if weights_dir is not None:
            state = convert_tfjs(Path(weights_dir), model, net)
        else:
            state = _cached_state(model, net)
        net.load_state_dict(state)
        return net.to(device).eval().requires_grad_(False)


def convert_tfjs(folder: Path, model: str, net: nn.Module,
                 verify: bool = True) -> dict[str, torch.Tensor]:
    """TF.js files of ``model`` in ``folder`` -> ``net``'s state dict.

    ``verify`` checks the files against the :data:`FACEAPI_FILES` digests.
    """
    manifest = manifest_path(folder, model)
    if not manifest.is_file():
        raise CacheError(f"{folder} has no {manifest.name}; {_download_hint()}")
    if verify:
        for name in (manifest.name, f"{model}-shard1"):
            path = folder / name
            if path.is_file() and sha256_file(path) != FACEAPI_FILES[name]:
                raise TFJSFormatError(
                    f"{path} is not the published face-api.js file (sha256 mismatch); "
                    "it is corrupt, truncated or another version"
                )
    return tfjs_to_torch(net, read_tfjs_weights(manifest))


def _cached_state(model: str, net: nn.Module) -> dict[str, torch.Tensor]:
    path = cache_dir() / f"faceapi-{model}.safetensors"
    if path.exists():
        try:
            return load_checked(path)
        except CacheError:
            path.unlink()  # corrupt: rebuilt below, never loaded
    with tempfile.TemporaryDirectory(prefix="faceapi-") as tmp:
        folder = Path(tmp)
        for name in (f"{model}-weights_manifest.json", f"{model}-shard1"):
            _download(name, folder / name)
        state = convert_tfjs(folder, model, net)
    save_checked(path, state, {"source": FACEAPI_URL, "sha256": {
        k: v for k, v in FACEAPI_FILES.items() if k.startswith(model)}})
    return state


def _download(name: str, dest: Path, timeout: float = 30.0) -> None:
    try:
        with urllib.request.urlopen(FACEAPI_URL + name, timeout=timeout) as resp:
            dest.write_bytes(resp.read())
    except (urllib.error.URLError, OSError) as exc:
        raise CacheError(f"cannot download {FACEAPI_URL + name} ({exc}). {_download_hint()}") from exc
    if sha256_file(dest) != FACEAPI_FILES[name]:
        raise CacheError(f"{name} from {FACEAPI_URL} failed its sha256 check; retry, or {_download_hint()}")


def _download_hint() -> str:
    files = ", ".join(FACEAPI_FILES)
    return (f"download these files from {FACEAPI_URL} into one folder: {files}; "
            "then use FaceAttributes.from_dir(folder)")


# --------------------------------------------------------------------- high-level API


class FaceAttributes:
    """Age, gender and 7 expressions of face crops; both nets load lazily, once.

    Outputs are differentiable with respect to the images (the nets' own
    parameters are frozen), so they can serve as losses or labels.
    """

    def __init__(self, weights_dir: str | Path | None = None, device: str | torch.device = "cpu"):
        self.weights_dir = None if weights_dir is None else Path(weights_dir)
        self.device = torch.device(device)
        self._nets: dict[str, nn.Module] = {}

    @classmethod
    def from_dir(cls, path: str | Path, device: str | torch.device = "cpu") -> FaceAttributes:
        """Use the TF.js files (``*-weights_manifest.json`` + ``*-shard1``) in ``path``."""
        if not Path(path).is_dir():
            raise CacheError(f"{path} is not a folder; {_download_hint()}")
        return cls(path, device)

    def net(self, kind: str) -> nn.Module:
        """The ``"age_gender"`` or ``"expression"`` net, loaded on first use."""
        if kind not in self._nets:
            self._nets[kind] = load_net(kind, self.weights_dir, self.device)
        return self._nets[kind]

    def to(self, device: str | torch.device) -> FaceAttributes:
        self.device = torch.device(device)
        with torch.inference_mode(False):
            self._nets = {k: v.to(self.device) for k, v in self._nets.items()}
        return self

    def predict(self, images: torch.Tensor, *, ffhq_aligned: bool = False,
                nets: tuple[str, ...] = ("age_gender", "expression")) -> dict[str, torch.Tensor]:
        """Predict attributes of (N, 3, H, W) images in [-1, 1].

        ``images`` are face crops (any aspect; padded to square), or whole
        FFHQ-aligned images with ``ffhq_aligned=True`` (cropped with
        :func:`crop_ffhq_face`). ``nets`` selects which networks run. Returns

        - ``age`` (N,): years (a regression; not clamped),
        - ``gender_male_prob`` (N,) in [0, 1] and ``gender_logits`` (N, 2) (male, female),
        - ``expressions`` (N, 7): softmax probabilities in the order of :data:`EXPRESSIONS`,
          and ``expression_logits`` (N, 7).
        """
        crops = crop_ffhq_face(images) if ffhq_aligned else images
        x = to_net_input(crops.to(self.device))
        out: dict[str, torch.Tensor] = {}
        if "age_gender" in nets:
            age, gender_logits = self.net("age_gender")(x)
            out.update(age=age, gender_logits=gender_logits,
                       gender_male_prob=gender_logits.softmax(-1)[:, 0])
        if "expression" in nets:
            logits = self.net("expression")(x)
            out.update(expression_logits=logits, expressions=logits.softmax(-1))
        return out

    __call__ = predict
