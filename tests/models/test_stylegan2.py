"""Pure-PyTorch StyleGAN2 on tiny random configs: latent spaces, tables and invariants."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from sg2_helpers import TINY, randomize

from stylelab.models.base import module_key
from stylelab.models.stylegan2 import (
    PRESETS,
    StyleGAN2,
    StyleGAN2Config,
    fir_kernel,
    layer_tables,
    upfirdn2d,
    upsample2d,
)


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return randomize(StyleGAN2(TINY))


@pytest.fixture
def w(G):
    return G.map(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(1)))


@torch.no_grad()
def test_shapes_w_wplus_s(G, w):
    assert w.shape == (2, 32)
    assert G.synthesis(w).shape == (2, 3, 32, 32)
    wp = G.to_wplus(w) + 0.1 * torch.randn(2, G.num_ws, G.w_dim)
    assert G.synthesis(wp).shape == (2, 3, 32, 32)
    styles = G.w_to_s(w)
    assert [tuple(s.shape) for s in styles.values()] == [(2, s.channels) for s in G.style_layers]
    assert G.synthesis(styles=styles).shape == (2, 3, 32, 32)


@torch.no_grad()
def test_w_and_s_synthesis_identical(G, w):
    assert torch.equal(G.synthesis(w), G.synthesis(styles=G.w_to_s(w)))
    assert torch.equal(G.synthesis(w), G.synthesis(G.to_wplus(w)))


@torch.no_grad()
def test_editing_one_s_channel_changes_image(G, w):
    styles = G.w_to_s(w)
    base = G.synthesis(styles=styles)
    for name in ("conv1", "16.conv0", "32.to_rgb"):
        edited = {k: v.clone() for k, v in styles.items()}
        edited[name][:, 3] += 5.0
        assert not torch.allclose(G.synthesis(styles=edited), base, atol=1e-4), name


@torch.no_grad()
def test_each_w_index_feeds_its_layers(G, w):
    wp = G.to_wplus(w)
    wp2 = wp.clone()
    wp2[:, 3] += 1.0  # index 3 = 8.to_rgb and 16.conv0
    s, s2 = G.w_to_s(wp), G.w_to_s(wp2)
    changed = {n for n in s if not torch.equal(s[n], s2[n])}
    assert changed == {"8.to_rgb", "16.conv0"}


@torch.no_grad()
@pytest.mark.parametrize("layer", ["4", "8", "16", "32"])
def test_feature_round_trip(G, w, layer):
    img = G.synthesis(w)
    feats = G.features(w, layers=[layer])
    assert feats[layer].shape == (2, G.feature_layer(layer).channels, int(layer), int(layer))
    assert torch.equal(G.synthesis(w, features_in=feats), img)
    edited = {layer: feats[layer] * 1.5 + 0.2}
    assert not torch.allclose(G.synthesis(w, features_in=edited), img, atol=1e-4)


@torch.no_grad()
def test_feature_edit_keeps_earlier_skip_image(G, w):
    """Replacing F "32" only changes the last to_rgb term: the skip image is unchanged."""
    feats = G.features(w, layers=["32"])
    zero_rgb = {"32": torch.zeros_like(feats["32"])}
    out = G.synthesis(w, features_in=zero_rgb)
    styles = G.w_to_s(w)
    expected_bias = G.blocks[-1].to_rgb.bias.view(1, 3, 1, 1)
    partial = G.synthesis(w) - G.blocks[-1].to_rgb(feats["32"], styles["32.to_rgb"])
    torch.testing.assert_close(out, partial + expected_bias)


@torch.no_grad()
def test_features_stop_early(G, w):
    calls = []
    hooks = [G.blocks[i].conv1.register_forward_hook(lambda *a, i=i: calls.append(i))
             for i in range(len(G.blocks))]
    try:
        out = G.synthesize(w, return_features=["8", "16"], image=False)
    finally:
        for h in hooks:
            h.remove()
    assert out.image is None and set(out.features) == {"8", "16"}
    assert calls == [0, 1]  # the 32px block never ran


def test_ffhq_1024_tables():
    cfg = StyleGAN2Config()
    styles, feats = layer_tables(cfg)
    assert max(s.w_index for s in styles) + 1 == 18 == 2 * int(math.log2(1024)) - 2
    names = [s.name for s in styles]
    assert names[:5] == ["conv1", "to_rgb1", "8.conv0", "8.conv1", "8.to_rgb"]
    assert names[-3:] == ["1024.conv0", "1024.conv1", "1024.to_rgb"] and len(names) == 26
    idx = {s.name: s.w_index for s in styles}
    first = ["conv1", "to_rgb1", "8.conv0", "8.conv1", "8.to_rgb"]
    assert [idx[n] for n in first] == [0, 1, 1, 2, 3]
    assert (idx["1024.conv0"], idx["1024.conv1"], idx["1024.to_rgb"]) == (15, 16, 17)
    # rosinality channel_multiplier=2: 512 up to 64px, then 256/128/64/32
    assert [f.channels for f in feats] == [512] * 5 + [256, 128, 64, 32]
    ch = {s.name: s.channels for s in styles}
    assert ch["1024.conv0"] == 64 and ch["1024.conv1"] == 32 and ch["1024.to_rgb"] == 32
    assert sum(ch.values()) == 9088  # the StyleSpace size reported by Wu et al.
    assert StyleGAN2Config.rosinality(1024, 2) == cfg
    assert [f.channels for f in layer_tables(StyleGAN2Config.rosinality(256, 1))[1]] == \
        [512, 512, 512, 512, 256, 128, 64]


def test_presets_build_tables():
    for name, cfg in PRESETS.items():
        styles, feats = layer_tables(cfg)
        assert feats[-1].resolution == cfg.resolution, name
        assert max(s.w_index for s in styles) + 1 == 2 * int(math.log2(cfg.resolution)) - 2


def test_generator_registers_affines_and_equalized_mapping(G):
    assert set(G.affines) == {module_key(s.name) for s in G.style_layers}
    for s in G.style_layers:
        assert G.affines[module_key(s.name)].weight.shape == (s.channels, G.w_dim)
    fresh = StyleGAN2(TINY)
    assert all(torch.equal(a.bias, torch.ones_like(a.bias)) for a in fresh.affines.values())
    fc = G.mapping.layers[0]
    assert fc.lr_mul == 0.01 and fc.weight_gain == pytest.approx(0.01 / math.sqrt(32))


@torch.no_grad()
def test_truncation(G):
    z = torch.randn(3, G.z_dim)
    w = G.map(z)
    torch.testing.assert_close(G.map(z, 0.0), G.w_avg.expand(3, -1))
    torch.testing.assert_close(G.map(z, 0.5), G.w_avg + 0.5 * (w - G.w_avg))
    wp = G.truncate(w, 0.0, cutoff=4)
    torch.testing.assert_close(wp[:, :4], G.w_avg.expand(3, 4, -1))
    torch.testing.assert_close(wp[:, 4:], w[:, None].expand(-1, G.num_ws - 4, -1))


@torch.no_grad()
def test_batch_equals_single_and_fused_equals_per_sample(G):
    w = G.to_wplus(G.map(torch.randn(3, G.z_dim))) + 0.3 * torch.randn(3, G.num_ws, G.w_dim)
    batch = G.synthesis(w)
    singles = torch.cat([G.synthesis(w[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, singles, atol=1e-5, rtol=1e-5)
    G.fused_modconv = True
    try:
        fused = G.synthesis(w)
        assert G.blocks[0].conv0.fused
    finally:
        G.fused_modconv = False
    torch.testing.assert_close(fused, batch, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_noise_modes(G, w):
    const = G.synthesis(w, noise_mode="const")
    assert torch.equal(const, G.synthesis(w, noise_mode="const"))
    r1, r2 = G.synthesis(w, noise_mode="random"), G.synthesis(w, noise_mode="random")
    assert not torch.allclose(r1, r2)
    none = G.synthesis(w, noise_mode="none")
    assert torch.equal(none, G.synthesis(w, noise_mode="none"))
    assert not torch.allclose(none, const)
    quiet = StyleGAN2(TINY).eval()  # noise strengths start at zero: all modes agree
    torch.testing.assert_close(quiet.synthesis(w, noise_mode="random"),
                               quiet.synthesis(w, noise_mode="none"))
    with pytest.raises(ValueError):
        G.synthesis(w, noise_mode="fresh")


@torch.no_grad()
def test_sizes_are_exact_area_downsamples():
    cfg = StyleGAN2Config(z_dim=16, w_dim=16, resolution=128, mapping_layers=1,
                          channel_base=256, channel_max=16)
    G = randomize(StyleGAN2(cfg))
    assert G.sizes == (64, 128)
    w = G.map(torch.randn(1, 16))
    full = G.synthesis(w)
    torch.testing.assert_close(G.synthesis(w, size=64), F.avg_pool2d(full, 2))
    with pytest.raises(ValueError):
        G.synthesis(w, size=32)


def test_upfirdn_matches_naive_upsampling():
    """upsample2d == zero insertion, pad (2, 1), 4x4 [1,3,3,1] filter x 4; keeps constants."""
    x = torch.randn(1, 2, 5, 5)
    k = fir_kernel()
    up = upsample2d(x, k)
    assert up.shape == (1, 2, 10, 10)
    z = torch.zeros(1, 2, 10, 10)
    z[:, :, ::2, ::2] = x
    naive = F.conv2d(F.pad(z, (2, 1, 2, 1)), (k * 4).flip(0, 1).expand(2, 1, 4, 4), groups=2)
    torch.testing.assert_close(up, naive)
    ones = upfirdn2d(torch.ones(1, 1, 8, 8), k, up=2, pad=(2, 1), gain=4.0)
    torch.testing.assert_close(ones[..., 2:-2, 2:-2], torch.ones(1, 1, 12, 12))


def test_gradients_flow_for_inversion(G):
    w = G.map(torch.randn(1, G.z_dim)).detach().requires_grad_(True)
    G.synthesis(w).square().mean().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
