"""Perceptual distance: the formula on a tiny backbone; the real VGG16 ranks distortions."""

import importlib.util
import io
import itertools

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from stylelab.perceptual import load_backbone
from stylelab.perceptual.distance import (
    PerceptualDistance,
    perceptual_distance,
    unit_normalise,
)


@pytest.fixture(scope="module")
def tiny_net():
    return load_backbone("tiny-backbone")


def images(n=3, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def test_formula_identity_symmetry(tiny_net):
    a, b = images(seed=0), images(seed=1)
    d = PerceptualDistance(tiny_net)
    ab = d(a, b)
    assert ab.shape == (3,) and (ab > 0).all()
    assert torch.allclose(ab, d(b, a))
    assert torch.allclose(d(a, a), torch.zeros(3), atol=1e-6)
    fa, fb = tiny_net.features(a), tiny_net.features(b)
    by_hand = sum((unit_normalise(fa[n]) - unit_normalise(fb[n])).pow(2).sum(1).mean((1, 2))
                  for n in tiny_net.layers)
    assert torch.allclose(ab, by_hand, atol=1e-6)
    per_layer = d.layer_distances(a, b)
    assert all(((v >= 0) & (v <= 4 + 1e-5)).all() for v in per_layer.values())
    one = PerceptualDistance(tiny_net, layers=tiny_net.layers[:1])(a, b)
    assert torch.allclose(one, per_layer[tiny_net.layers[0]])


def test_differentiable(tiny_net):
    a = images().requires_grad_(True)
    PerceptualDistance(tiny_net)(a, images(seed=1)).sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0


def test_bad_input(tiny_net):
    d = PerceptualDistance(tiny_net)
    with pytest.raises(ValueError, match="same shape"):
        d(images(size=32), images(size=16))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        d(images() * 3, images())
    with pytest.raises(ValueError, match="valid"):
        PerceptualDistance(tiny_net, layers=["nope"])
    with pytest.raises(ValueError, match="valid backbones: efficientnet-lite0"):
        perceptual_distance(images(), images(), net="no-such-net")


# ---------------------------------------------------------------- real VGG16 (weights)
def _pil(x: torch.Tensor) -> list[Image.Image]:
    arr = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(a) for a in arr]


def _tensor(ims: list[Image.Image]) -> torch.Tensor:
    arr = np.stack([np.asarray(i.convert("RGB"), dtype=np.float32) for i in ims])
    return torch.from_numpy(arr).permute(0, 3, 1, 2) / 127.5 - 1


def _jpeg(im: Image.Image, q: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=q)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@pytest.fixture(scope="module")
def faces():
    from stylelab import load_generator

    G = load_generator("mobilestylegan-ffhq")
    with torch.no_grad():
        return G.synthesis(G.sample_w(20, seed=3, truncation_psi=0.8), size=256).clamp(-1, 1)


DISTORTIONS = {
    "blur": lambda ims, k: [i.filter(ImageFilter.GaussianBlur([0.5, 1, 2, 3, 5][k])) for i in ims],
    "jpeg": lambda ims, k: [_jpeg(i, [90, 60, 30, 15, 5][k]) for i in ims],
}


@pytest.mark.weights
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["blur", "noise", "jpeg"])
def test_vgg16_distance_grows_with_distortion(faces, kind):
    d = PerceptualDistance("vgg16")
    base = _tensor(_pil(faces))  # quantised like the distorted copies
    means = []
    with torch.no_grad():
        for k in range(5):
            if kind == "noise":
                g = torch.Generator().manual_seed(k)
                sigma = [0.02, 0.05, 0.1, 0.2, 0.4][k]
                other = (base + sigma * torch.randn(base.shape, generator=g)).clamp(-1, 1)
            else:
                other = _tensor(DISTORTIONS[kind](_pil(faces), k))
            means.append(float(d(base, other).mean()))
        assert float(d(base, base).abs().max()) < 1e-6
    print(kind, [round(m, 4) for m in means])
    assert all(b > a for a, b in itertools.pairwise(means)), means


def test_against_a_fixed_target_equals_forward(tiny_net):
    a, b = images(seed=0), images(n=1, seed=1)
    d = PerceptualDistance(tiny_net)
    fn = d.against(b)
    assert torch.allclose(fn(a), d(a, b.expand_as(a)), atol=1e-6)
    x = a.clone().requires_grad_(True)
    fn(x).sum().backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="shape of the target"):
        fn(images(size=16))


@pytest.mark.skipif(importlib.util.find_spec("lpips") is None, reason="lpips is not installed")
def test_with_lpips_heads_it_is_lpips():
    """With the lpips package's calibrated heads our distance is LPIPS itself. Offline the
    ImageNet trunk cannot be downloaded, so both use the same random trunk."""
    import warnings

    from stylelab.perceptual.backbones import LpipsBackbone

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = LpipsBackbone("vgg", random_trunk=True).eval()
    a, b = images(2, 64, seed=0), images(2, 64, seed=1)
    ours = PerceptualDistance(net)(a, b)
    with torch.no_grad():
        theirs = net.lpips(a, b, normalize=False).flatten()
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-7), (ours, theirs)
    assert PerceptualDistance(net).calibrated
