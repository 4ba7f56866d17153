"""Face identity: dlib's 128-D descriptors, with dlib or differentiably in PyTorch.

>>> model = IdentityModel()                              # converted dlib ResNet (cached)
>>> e = model.embed(images)                              # FFHQ-aligned (N, 3, H, W) in [-1, 1]
>>> e = model.embed(images, landmarks)                   # any faces: (N, 68, 2) pixel landmarks
>>> loss = model.identity_loss(images, target_e)         # (N,) 1 - cosine, differentiable
>>> dlib_distance(e[0], e[1]) < SAME_PERSON_THRESHOLD    # dlib's same-person rule

:func:`face_chip` reproduces ``dlib.extract_image_chip(img, get_face_chip_details(shape,
150, 0.25))`` with ``grid_sample``: the same similarity fit to dlib's mean face, the
same chip-pixel to image mapping, and, for faces much larger than the chip, dlib's
image pyramid (5-tap Gaussian, integer truncation, and the half-pixel offset dlib's
``pyramid_down<2>`` point mapping has). The mean-face templates were recovered from
dlib 20 by probing ``get_face_chip_details`` (exact to 1e-12); only the landmarks dlib
uses carry weight (68 points: 27-54 and 60-64; or all 5).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .detect import as_rgb_array, dlib_model_path
from .dlib_resnet import CHIP_SIZE, DLIB_RESNET_FILE, DlibFaceResNet, load_dlib_resnet
from .errors import MissingModelError, NoFaceError

SAME_PERSON_THRESHOLD = 0.6  # dlib: euclidean descriptor distance below this = same person
CHIP_PADDING = 0.25

# dlib's mean face (fraction of the face box) for the landmarks it fits: (index, x, y)
_TEMPLATE_68 = np.array([
    (27, .490127, .203352), (28, .490127, .307009), (29, .490127, .409805), (30, .490127, .515625),
    (31, .36688, .587326), (32, .426036, .609345), (33, .490127, .628106), (34, .554217, .609345),
    (35, .613373, .587326), (36, .121737, .216423), (37, .187122, .178758), (38, .265825, .179852),
    (39, .334606, .231733), (40, .260918, .245099), (41, .182743, .244077), (42, .645647, .231733),
    (43, .714428, .179852), (44, .793132, .178758), (45, .858516, .216423), (46, .79751, .244077),
    (47, .719335, .245099), (48, .254149, .780233), (49, .340985, .745405), (50, .428858, .727388),
    (51, .490127, .742578), (52, .551395, .727388), (53, .639268, .745405), (54, .726104, .780233),
    (60, .290379, .784792), (61, .428096, .778746), (62, .490127, .785343), (63, .552157, .778746),
    (64, .689874, .784792),
])
_TEMPLATE_5 = np.array([
    (0, .8595674595992, .2134981538014), (1, .6460604764104, .2289674387677),
    (2, .1205750620789, .2137274526848), (3, .3340850613712, .2290642403242),
    (4, .4901123135679, .6277975316475),
])

# Mean dlib 68-point landmarks of FFHQ-aligned faces, as (x + 0.5) / size: measured with
# dlib's HOG detector + 68-point predictor on MobileStyleGAN-FFHQ seeds 0-199
# (truncation 0.7, 256 px); a 1024 px check on 24 seeds agrees within 0.2 px on average.
_FFHQ_LANDMARKS = np.array([
    0.2149, 0.4820, 0.2179, 0.5572, 0.2252, 0.6315, 0.2377, 0.7049,
    0.2636, 0.7733, 0.3076, 0.8325, 0.3647, 0.8814, 0.4287, 0.9208,
    0.4999, 0.9332, 0.5704, 0.9214, 0.6329, 0.8812, 0.6887, 0.8321,
    0.7320, 0.7727, 0.7576, 0.7042, 0.7700, 0.6305, 0.7768, 0.5566,
    0.7798, 0.4813, 0.2697, 0.4319, 0.3047, 0.3977, 0.3551, 0.3869,
    0.4067, 0.3943, 0.4548, 0.4138, 0.5458, 0.4142, 0.5929, 0.3945,
    0.6431, 0.3874, 0.6925, 0.3972, 0.7264, 0.4301, 0.5017, 0.4670,
    0.5021, 0.5158, 0.5025, 0.5642, 0.5030, 0.6144, 0.4436, 0.6460,
    0.4720, 0.6556, 0.5019, 0.6646, 0.5317, 0.6554, 0.5591, 0.6459,
    0.3281, 0.4778, 0.3590, 0.4607, 0.3948, 0.4610, 0.4268, 0.4834,
    0.3930, 0.4889, 0.3576, 0.4889, 0.5724, 0.4836, 0.6046, 0.4611,
    0.6401, 0.4604, 0.6700, 0.4774, 0.6421, 0.4888, 0.6070, 0.4891,
    0.3828, 0.7299, 0.4278, 0.7155, 0.4708, 0.7081, 0.5007, 0.7147,
    0.5320, 0.7086, 0.5742, 0.7163, 0.6169, 0.7299, 0.5756, 0.7731,
    0.5339, 0.7926, 0.5005, 0.7962, 0.4681, 0.7926, 0.4259, 0.7734,
    0.3997, 0.7333, 0.4703, 0.7304, 0.5005, 0.7337, 0.5322, 0.7307,
    0.6001, 0.7331, 0.5325, 0.7559, 0.5006, 0.7596, 0.4695, 0.7559,
]).reshape(68, 2)


def canonical_landmarks(size: int) -> torch.Tensor:
    """Mean dlib landmarks of an FFHQ-aligned ``size`` x ``size`` face: ``(68, 2)`` (x, y) px."""
    return torch.from_numpy(_FFHQ_LANDMARKS * size - 0.5).float()


# ------------------------------------------------------------------ chip geometry
def chip_details(landmarks: np.ndarray, size: int = CHIP_SIZE,
                 padding: float = CHIP_PADDING) -> tuple[np.ndarray, float, float]:
    """dlib's ``get_face_chip_details``: ``(center (2,), angle, scale)`` of the chip box.

    ``landmarks``: ``(68, 2)`` or ``(5, 2)`` (x, y) image pixels. The chip box is
    ``size * scale`` pixels wide, centred on ``center`` and rotated by ``angle`` radians.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    template = {68: _TEMPLATE_68, 5: _TEMPLATE_5}.get(len(pts))
    if template is None or pts.shape[1:] != (2,):
        raise ValueError(f"landmarks must be (68, 2) or (5, 2), got {pts.shape}")
    src = (padding + template[:, 1:]) / (2 * padding + 1) * size  # chip pixels
    dst = pts[template[:, 0].astype(int)]
    src_c, dst_c = src - src.mean(0), dst - dst.mean(0)
    norm = (src_c ** 2).sum()
    a = (src_c * dst_c).sum() / norm
    b = (src_c[:, 0] * dst_c[:, 1] - src_c[:, 1] * dst_c[:, 0]).sum() / norm
    rot = np.array([[a, -b], [b, a]])
    t = dst.mean(0) - rot @ src.mean(0)
    return rot @ np.array([size / 2, size / 2]) + t, float(np.arctan2(b, a)), float(np.hypot(a, b))


def _pyramid_levels(half_extent: float, size: int) -> int:
    """How many times dlib halves the image before sampling a chip (``extract_image_chips``)."""
    levels, extent = 0, 2 * half_extent
    while (extent / 2 ** (levels + 1) + 1) ** 2 > size * size:
        levels += 1
    return levels


def _crop_box(center: np.ndarray, half: float, angle: float, grow: float,
              height: int, width: int) -> tuple[int, int, int, int]:
    """The region ``(x0, y0, x1, y1)`` (inclusive) dlib builds its pyramid on: the rotated
    chip box grown by ``grow`` pixels, clipped to the image, rounded."""
    corners = np.array([[-half, -half], [half, -half], [-half, half], [half, half]])
    c, s = np.cos(angle), np.sin(angle)
    pts = corners @ np.array([[c, s], [-s, c]]) + center
    lo = np.maximum(pts.min(0) - grow, 0.0)
    hi = np.minimum(pts.max(0) + grow, [width - 1.0, height - 1.0])
    x0, y0, x1, y1 = (int(np.floor(v + 0.5)) for v in (*lo, *hi))
    return x0, y0, x1, y1


def _floor_ste(x: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """``floor(x)`` forward with an identity gradient (dlib truncates to integer pixel
    values); ``x`` unchanged when not ``exact``."""
    if not exact:
        return x
    return x + (torch.floor(x + 1e-4) - x).detach()  # 1e-4: float error of [-1, 1] inputs


def pyramid_down(img: torch.Tensor, exact: bool = True) -> torch.Tensor:
    """dlib's ``pyramid_down<2>``: ``(N, C, H, W)`` [0, 255] -> ``(N, C, (H-3)//2, (W-3)//2)``.

    5-tap [1 4 6 4 1]/16 Gaussian, output pixel ``j`` centred on input ``2 j + 2``.
    """
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=img.dtype, device=img.device) / 16
    c = img.shape[1]
    x = F.conv2d(img, k.view(1, 1, 1, 5).repeat(c, 1, 1, 1), stride=(1, 2), groups=c)
    x = F.conv2d(x, k.view(1, 1, 5, 1).repeat(c, 1, 1, 1), stride=(2, 1), groups=c)
    return _floor_ste(x, exact)


def _bilinear_dlib(img: torch.Tensor, xy: torch.Tensor, exact: bool) -> torch.Tensor:
    """Bilinear sampling at pixel coords ``xy (S, S, 2)`` of ``img (1, C, H, W)``; a point
    whose 2x2 neighbourhood leaves the image is 0, as in dlib. Returns ``(1, C, S, S)``."""
    h, w = img.shape[-2:]
    grid = torch.stack([xy[..., 0] * 2 / (w - 1) - 1, xy[..., 1] * 2 / (h - 1) - 1], -1)
    out = F.grid_sample(img, grid[None].to(img.dtype), mode="bilinear",
                        padding_mode="zeros", align_corners=True)
    left, top = torch.floor(xy[..., 0]), torch.floor(xy[..., 1])
    inside = (left >= 0) & (top >= 0) & (left + 1 < w) & (top + 1 < h)
    return _floor_ste(out * inside.to(out.dtype), exact)  # dlib truncates to uint8


def _chip_one(img255: torch.Tensor, landmarks: np.ndarray, size: int,
              padding: float, exact: bool) -> torch.Tensor:
    """One chip ``(1, 3, size, size)`` in [0, 255] from ``img255 (1, 3, H, W)``."""
    center, angle, scale = chip_details(landmarks, size, padding)
    half = (size * scale - 1) / 2  # dlib's chip box spans size*scale - 1 pixels
    step = 2 * half / (size - 1)
    grid = (torch.arange(size, dtype=torch.float64) - (size - 1) / 2) * step
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")
    c, s = np.cos(angle), np.sin(angle)
    xy = torch.stack([c * gx - s * gy + center[0], s * gx + c * gy + center[1]], -1)
    levels = _pyramid_levels(half, size)
    if levels:
        height, width = img255.shape[-2:]
        grow = 2.0 ** (levels + 2) - 2
        x0, y0, x1, y1 = _crop_box(center, half, angle, grow, height, width)
        img255 = img255[..., y0:y1 + 1, x0:x1 + 1]
        xy = xy - torch.tensor([x0, y0], dtype=torch.float64)
        for _ in range(levels):
            img255 = pyramid_down(img255, exact)
            xy = xy / 2 - torch.tensor([1.25, 0.75], dtype=torch.float64)  # dlib point_down
    return _bilinear_dlib(img255, xy.to(img255.device), exact)


def face_chip(images: torch.Tensor, landmarks: torch.Tensor | np.ndarray,
              size: int = CHIP_SIZE, padding: float = CHIP_PADDING,
              exact: bool = True) -> torch.Tensor:
    """dlib's aligned face chips, differentiable w.r.t. ``images``.

    ``images``: ``(N, 3, H, W)`` in [-1, 1]; ``landmarks``: ``(N, 68, 2)`` or ``(N, 5, 2)``
    (x, y) pixels of those images (or one ``(68, 2)`` set for all). Returns
    ``(N, 3, size, size)`` in [-1, 1]: for a uint8 image, the pixels of
    ``dlib.get_face_chip(img, shape, size, padding)`` (a few may differ by one level).
    ``exact=False`` skips dlib's truncation to integer levels (pyramid and chip), for
    smoother losses; gradients pass the truncation unchanged either way.
    """
    if torch.is_tensor(landmarks):
        landmarks = landmarks.detach().cpu().numpy()
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim == 2:
        pts = np.broadcast_to(pts, (images.shape[0], *pts.shape))
    if pts.shape[0] != images.shape[0]:
        raise ValueError(f"{pts.shape[0]} landmark sets for {images.shape[0]} images")
    img255 = (images.float() + 1) * 127.5
    chips = [_chip_one(img255[i:i + 1], pts[i], size, padding, exact) for i in range(len(pts))]
    return torch.cat(chips) / 127.5 - 1


# ------------------------------------------------------------------ dlib itself
def _dlib():
    try:
        import dlib
    except ImportError:
        raise MissingModelError("dlib is not installed: run `pip install dlib-bin` "
                                "(or `pip install stylelab[faces]`)") from None
    return dlib


@functools.cache
def _dlib_models(points: int = 68):
    """dlib's HOG detector, ``points``-landmark predictor and face recognizer (loaded once)."""
    dlib = _dlib()
    return (dlib.get_frontal_face_detector(),
            dlib.shape_predictor(
                str(dlib_model_path(f"shape_predictor_{points}_face_landmarks.dat"))),
            dlib.face_recognition_model_v1(str(dlib_model_path(DLIB_RESNET_FILE))))


def dlib_landmarks(image: Image.Image | np.ndarray, upsample: int | None = None,
                   points: int = 68) -> np.ndarray:
    """dlib's landmarks of the largest face: ``(points, 2)`` float (x, y) pixels.

    ``upsample``: how often the HOG detector upsamples the image (it finds faces of
    80 px and more at 0); by default 0, then 1 if no face was found in an image below
    2000 px. Raises :class:`NoFaceError` when no face is found.
    """
    dlib = _dlib()
    img = as_rgb_array(image)
    detector, predictor, _ = _dlib_models(points)
    faces = detector(img, upsample or 0)
    if not faces and upsample is None and max(img.shape[:2]) < 2000:
        faces = detector(img, 1)
    if not faces:
        raise NoFaceError(f"dlib's detector found none in the {img.shape[1]}x{img.shape[0]} image")
    box = max(faces, key=lambda r: r.area())
    shape = predictor(img, dlib.rectangle(box.left(), box.top(), box.right(), box.bottom()))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _full_object_detection(landmarks: np.ndarray):
    dlib = _dlib()
    pts = dlib.points()
    for x, y in np.round(landmarks).astype(int):
        pts.append(dlib.point(int(x), int(y)))
    lo, hi = landmarks.min(0), landmarks.max(0)
    return dlib.full_object_detection(dlib.rectangle(*map(int, (*lo, *hi))), pts)


def dlib_descriptor(image: Image.Image | np.ndarray, landmarks: np.ndarray | None = None,
                    num_jitters: int = 0) -> np.ndarray:
    """dlib's own ``compute_face_descriptor`` of a face: ``(128,)`` float64 (not normalised).

    ``image``: PIL image or ``(H, W, 3)`` uint8 RGB; ``landmarks``: ``(68, 2)`` or
    ``(5, 2)`` pixels (rounded to integers, as dlib stores them), else found with dlib's
    detector and 68-point predictor (largest face; :class:`NoFaceError` if none).
    """
    img = as_rgb_array(image)
    pts = dlib_landmarks(img) if landmarks is None else np.asarray(landmarks, dtype=np.float64)
    if pts.shape not in ((68, 2), (5, 2)):
        raise ValueError(f"landmarks must be (68, 2) or (5, 2), got {pts.shape}")
    recognizer = _dlib_models()[2]
    desc = recognizer.compute_face_descriptor(img, _full_object_detection(pts), num_jitters)
    return np.array(desc, dtype=np.float64)


# ------------------------------------------------------------------ comparisons
def similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of descriptors ``(..., 128)`` -> ``(...)`` in [-1, 1]."""
    return F.cosine_similarity(a, b, dim=-1)


def dlib_distance(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Euclidean distance of raw descriptors ``(..., 128)`` -> ``(...)``; < 0.6: same person."""
    a, b = (torch.as_tensor(np.asarray(x)) if not torch.is_tensor(x) else x for x in (a, b))
    return (a - b).norm(dim=-1)


Landmarks = torch.Tensor | np.ndarray | None


class IdentityModel(nn.Module):
    """Differentiable dlib face descriptors of ``(N, 3, H, W)`` images in [-1, 1].

    Wraps the converted :class:`DlibFaceResNet` (frozen) and :func:`face_chip`.
    ``landmarks``: ``(N, 68, 2)`` / ``(N, 5, 2)`` pixels of the images, or ``None``
    for FFHQ-aligned square faces (:func:`canonical_landmarks`, no detection).
    ``exact``: dlib's integer truncation of chip pixels (see :func:`face_chip`).
    """

    threshold = SAME_PERSON_THRESHOLD

    def __init__(self, net: DlibFaceResNet | None = None, padding: float = CHIP_PADDING,
                 exact: bool = True):
        super().__init__()
        self.net = net if net is not None else load_dlib_resnet()
        self.padding, self.exact = padding, exact

    def chips(self, images: torch.Tensor, landmarks: Landmarks = None) -> torch.Tensor:
        """Face chips ``(N, 3, 150, 150)`` in [-1, 1] (see :func:`face_chip`)."""
        if landmarks is None:
            if images.shape[-1] != images.shape[-2]:
                raise ValueError("FFHQ-aligned faces are square; pass landmarks otherwise")
            landmarks = canonical_landmarks(images.shape[-1])
        return face_chip(images, landmarks, CHIP_SIZE, self.padding, self.exact)

    def embed(self, images: torch.Tensor, landmarks: Landmarks = None) -> torch.Tensor:
        """Raw dlib descriptors ``(N, 128)`` (norm about 1.5), differentiable w.r.t. ``images``."""
        chips = self.chips(images, landmarks)
        return self.net((chips + 1) * 127.5)

    forward = embed

    def identity_loss(self, images: torch.Tensor, target_embedding: torch.Tensor,
                      landmarks: Landmarks = None) -> torch.Tensor:
        """``1 - cos(embed(images), target)`` per image: ``(N,)`` in [0, 2].

        ``target_embedding``: ``(128,)`` or ``(N, 128)`` (detached by the caller if fixed).
        """
        emb = self.embed(images, landmarks)
        return 1 - similarity(emb, torch.as_tensor(target_embedding).to(emb))

    similarity = staticmethod(similarity)
    dlib_distance = staticmethod(dlib_distance)
