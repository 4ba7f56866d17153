"""MobileStyleGAN on a tiny random config: every latent space and its invariants."""

import pytest
import torch

from stylelab.latents import z_from_seeds
from stylelab.models.layers import haar_dwt, haar_idwt
from stylelab.models.mobilestylegan import MobileStyleGAN, MobileStyleGANConfig


@pytest.fixture
def w(tiny):
    return tiny.map(z_from_seeds([0, 1], tiny.z_dim), 0.7)


def test_haar_roundtrip_and_orthonormal():
    x = torch.randn(2, 12, 5, 7)
    img = haar_idwt(x)
    assert img.shape == (2, 3, 10, 14)
    torch.testing.assert_close(haar_dwt(img), x)
    torch.testing.assert_close(img.square().sum(), x.square().sum())


def test_haar_low_band_is_twice_the_block_mean():
    x = torch.zeros(1, 12, 4, 4)
    x[:, :3] = torch.randn(1, 3, 4, 4)
    img = haar_idwt(x)
    torch.testing.assert_close(torch.nn.functional.avg_pool2d(img, 2), x[:, :3] / 2)


def test_ffhq_layer_tables():
    G = MobileStyleGAN(MobileStyleGANConfig())
    assert G.num_ws == 23 and G.resolution == 1024 and G.sizes == (256, 512, 1024)
    names = [s.name for s in G.style_layers]
    assert names[:4] == ["conv1", "b0.up", "b0.conv1", "b0.conv2"] and names[-1] == "to_img"
    assert [f.resolution for f in G.feature_layers] == [4, 8, 16, 32, 64, 128, 256, 512]
    assert G.style_layer("b6.conv2").channels == 64


def test_shapes_and_sizes(tiny, w):
    assert w.shape == (2, tiny.w_dim)
    for size in tiny.sizes:
        assert tiny.synthesis(w, size=size).shape == (2, 3, size, size)
    with pytest.raises(ValueError, match="choose one of"):
        tiny.synthesis(w, size=48)


def test_w_wplus_and_s_agree(tiny, w):
    img = tiny.synthesis(w)
    torch.testing.assert_close(tiny.synthesis(tiny.to_wplus(w)), img)
    torch.testing.assert_close(tiny.synthesis(styles=tiny.w_to_s(w)), img)


def test_wplus_layers_are_independent(tiny, w):
    wp = tiny.to_wplus(w).clone()
    base = tiny.synthesis(wp)
    wp[:, -1] += 1.0  # only the final to_img style
    assert not torch.allclose(tiny.synthesis(wp), base)


def test_single_s_channel_edit_changes_image(tiny, w):
    styles = tiny.w_to_s(w)
    styles["b1.conv2"] = styles["b1.conv2"].clone()
    styles["b1.conv2"][:, 3] += 5.0
    assert not torch.allclose(tiny.synthesis(styles=styles), tiny.synthesis(w))


def test_feature_roundtrip_and_edit(tiny, w):
    feats = tiny.features(w, layers=["b1"])
    assert feats["b1"].shape == (2, 16, 16, 16)
    img = tiny.synthesis(w)
    torch.testing.assert_close(tiny.synthesis(w, features_in=feats), img)
    edited = {"b1": feats["b1"] * 0.5}
    assert not torch.allclose(tiny.synthesis(w, features_in=edited), img)


def test_batch_equals_single(tiny, w):
    both = tiny.synthesis(w)
    torch.testing.assert_close(both[1:], tiny.synthesis(w[1:]), atol=1e-5, rtol=1e-5)


def test_noise_modes(tiny, w):
    a, b = tiny.synthesis(w), tiny.synthesis(w)
    torch.testing.assert_close(a, b)  # const noise is deterministic
    r1, r2 = tiny.synthesis(w, noise_mode="random"), tiny.synthesis(w, noise_mode="random")
    assert not torch.allclose(r1, r2)
    assert not torch.allclose(tiny.synthesis(w, noise_mode="none"), a)
    with pytest.raises(ValueError, match="noise_mode"):
        tiny.synthesis(w, noise_mode="loud")


def test_truncation(tiny, w):
    z = z_from_seeds([3], tiny.z_dim)
    torch.testing.assert_close(tiny.map(z, 0.0), tiny.w_avg.expand(1, -1))
    wp = tiny.truncate(tiny.map(z), 0.5, cutoff=2)
    assert wp.shape == (1, tiny.num_ws, tiny.w_dim)
    torch.testing.assert_close(wp[:, 5], tiny.map(z)[:, :])


def test_bad_latent_shapes(tiny):
    with pytest.raises(ValueError, match="w must be"):
        tiny.synthesis(torch.zeros(1, 7))
    with pytest.raises(ValueError, match="exactly one"):
        tiny.synthesis()
    with pytest.raises(KeyError, match="unknown feature layer"):
        tiny.features(torch.zeros(1, tiny.w_dim), layers=["b9"])


def test_gradients_reach_w(tiny):
    w = tiny.map(z_from_seeds([0], tiny.z_dim)).requires_grad_(True)
    tiny.synthesis(w).square().mean().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


def test_modulation_paths_agree():
    """Batch-1, batched, and gradient paths of the modulated conv compute the same thing."""
    from stylelab.models.mobilestylegan import DepthwiseSeparableConv

    torch.manual_seed(0)
    conv = DepthwiseSeparableConv(8, 6).requires_grad_(False)
    x = torch.randn(3, 8, 5, 5).contiguous(memory_format=torch.channels_last)
    s = torch.randn(3, 8)
    reference = torch.cat([torch.nn.functional.conv2d(
        torch.nn.functional.conv2d(x[i:i + 1], conv.dw, padding=1, groups=8)
        * (s[i] * conv.scale).view(1, -1, 1, 1), conv.pw) for i in range(3)])
    torch.testing.assert_close(conv(x, s), reference, atol=1e-5, rtol=1e-5)  # batched
    torch.testing.assert_close(conv(x[:1], s[:1]), reference[:1], atol=1e-5, rtol=1e-5)
    grads = []
    for batch in (x[:1], x[:2]):  # the batch-1 and batched gradient paths
        s_leaf = s[:len(batch)].clone().requires_grad_(True)
        out = conv(batch, s_leaf)
        torch.testing.assert_close(out, reference[:len(batch)], atol=1e-5, rtol=1e-5)
        out.square().sum().backward()
        grads.append(s_leaf.grad)
    torch.testing.assert_close(grads[0], grads[1][:1], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("kernel", "side"), [(1, 5), (3, 9), (3, 3)])
def test_dense_modulation_paths_agree(kernel, side):
    """DenseModConv: batch 1 (modulates the weight when it is the smaller tensor, else the
    activation) equals batched (activation): values and gradients for input and style."""
    from stylelab.models.mobilestylegan import DenseModConv

    torch.manual_seed(0)
    conv = DenseModConv(8, 6, kernel).requires_grad_(False)
    x = torch.randn(2, 8, side, side)
    s = torch.randn(2, 8)
    results = []
    for parts in ([slice(0, 1), slice(1, 2)], [slice(0, 2)]):  # per image, then one batch
        xs = [x[p].clone().requires_grad_(True) for p in parts]
        ss = [s[p].clone().requires_grad_(True) for p in parts]
        out = torch.cat([conv(b, st) for b, st in zip(xs, ss, strict=True)])
        out.square().sum().backward()
        results.append((out, torch.cat([b.grad for b in xs]), torch.cat([st.grad for st in ss])))
    for single, batched in zip(*results, strict=True):
        torch.testing.assert_close(single, batched, atol=1e-5, rtol=1e-4)
