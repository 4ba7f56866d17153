"""Encoder pieces on tiny models: shapes, gradients, the alignment loss, the attention blocks'
one-token equivalence, and the F path (render, edit)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from stylelab.encoders import (
    AlignmentConfig,
    Encoder,
    EncoderConfig,
    EncoderObjective,
    FCrossAttention,
    FeaturePyramid,
    Map2Style,
    WImageAligner,
    WPlusCrossAttention,
    edit_features,
    info_nce,
    layer_groups,
    multi_head_attention,
    render,
)
from stylelab.perceptual import PerceptualDistance, load_backbone

SIZES = {"backbone": "tiny-backbone", "input_size": 64, "channels": 16, "style_hidden": 16,
         "f_hidden": 16}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_encoder(G, kind="clcae", **kw) -> Encoder:
    torch.manual_seed(0)
    return Encoder(EncoderConfig.for_generator(G, kind, **{**SIZES, **kw}), G)


def faces(G, n=2, seed=0, size=64):
    with torch.no_grad():
        w = G.sample_w(n, seed=seed)
        return G.synthesis(w, size=size).clamp(-1, 1), w


def test_map2style_shapes_and_groups():
    block = Map2Style(8, 16, 32, hidden=12, count=3)
    assert len([m for m in block.convs if isinstance(m, torch.nn.Conv2d)]) == 4  # 16 -> 1
    assert block(torch.randn(2, 8, 16, 16)).shape == (2, 3, 32)
    assert Map2Style(8, 7, 32)(torch.randn(1, 8, 7, 7)).shape == (1, 1, 32)
    with pytest.raises(ValueError, match=r"\(N, 8, H, W\)"):
        block(torch.randn(2, 4, 16, 16))
    assert layer_groups(18) == (3, 4, 11)
    for n in (1, 2, 3, 8, 11, 14, 18, 23):
        assert sum(layer_groups(n)) == n


def test_pyramid_levels_and_trainable_backbone():
    pyramid = FeaturePyramid(load_backbone("tiny-backbone"), out_channels=16)
    assert pyramid.layers == ("c1", "c2", "c3")
    p = pyramid(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert p.t1.shape == (2, 16, 8, 8) and p.t2.shape == (2, 16, 16, 16)
    assert p.t3.shape == (2, 16, 32, 32)
    assert pyramid.shapes(64) == {"t1": (16, 8, 8), "t2": (16, 16, 16), "t3": (16, 32, 32)}
    assert all(q.requires_grad for q in pyramid.backbone.parameters())
    p.t3.sum().backward()
    assert all(q.grad is not None for q in pyramid.backbone.parameters())
    with pytest.raises(ValueError, match="finest to coarsest"):
        FeaturePyramid("tiny-backbone", layers=("c3", "c2", "c1"))


def test_pyramid_skips_unused_backbone_parts():
    pyramid = FeaturePyramid("tiny-backbone", layers=("c1", "c2", "c3"))
    assert set(pyramid.used_backbone_keys()) == set(pyramid.backbone.state_dict())


def test_one_token_attention_is_the_value_projection():
    torch.manual_seed(0)
    block = WPlusCrossAttention(32, heads=4, degenerate=True)
    torch.nn.init.normal_(block.out.weight)  # W_O starts at zero: make the path visible
    w, codes = torch.randn(3, 32), torch.randn(3, 11, 32)
    wplus = block(w, codes)
    assert wplus.shape == (3, 11, 32)
    torch.testing.assert_close(wplus, block.value_path(w, codes), atol=1e-5, rtol=1e-5)
    # the query does not matter: any w gives the same offsets
    torch.testing.assert_close(block(w * 3, codes) - 3 * w[:, None], wplus - w[:, None],
                               atol=1e-5, rtol=1e-5)

    f_block = FCrossAttention(16, 32, out_ch=8, out_res=16, heads=4, degenerate=True)
    t3 = torch.randn(3, 16, 32, 32)
    torch.testing.assert_close(f_block.attention(t3, w), f_block.value_path(t3, w),
                               atol=1e-5, rtol=1e-5)
    assert f_block(t3, w).shape == (3, 8, 16, 16)


def test_token_attention_depends_on_the_query():
    torch.manual_seed(0)
    block = WPlusCrossAttention(32, heads=4, degenerate=False, num_ws=11)
    torch.nn.init.normal_(block.out.weight)
    w, codes = torch.randn(2, 32), torch.randn(2, 11, 32)
    out = block(w, codes)
    assert out.shape == (2, 11, 32)
    assert not torch.allclose(out, block.value_path(w, codes), atol=1e-3)
    f_block = FCrossAttention(16, 32, 8, 16, heads=4, degenerate=False, num_ws=11)
    assert f_block(torch.randn(2, 16, 32, 32), w, codes).shape == (2, 8, 16, 16)
    with pytest.raises(ValueError, match="give wplus"):
        f_block(torch.randn(2, 16, 32, 32), w)
    with pytest.raises(ValueError, match="needs num_ws"):
        WPlusCrossAttention(32, degenerate=False)


def test_multi_head_attention_matches_torch():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 5, 16), torch.randn(2, 7, 16), torch.randn(2, 7, 16)
    ours = multi_head_attention(q, k, v, heads=4)
    ref = torch.nn.functional.scaled_dot_product_attention(
        *(x.view(2, -1, 4, 4).transpose(1, 2) for x in (q, k, v))).transpose(1, 2).reshape(2, 5, 16)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_info_nce_symmetry_and_alignment():
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(8, 16), dim=-1)
    scale = torch.tensor(1 / 0.07)
    torch.testing.assert_close(info_nce(a, b, scale), info_nce(b, a, scale))
    torch.testing.assert_close(info_nce(a, b, scale, 0.3), info_nce(b, a, scale, 0.7))
    aligned = info_nce(a, a, scale)
    shuffled = info_nce(a, a[torch.randperm(8)], scale)
    assert aligned < shuffled
    assert aligned < 0.1


def test_aligner_shapes_gradients_and_frozen_loss(tiny):
    torch.manual_seed(0)
    config = AlignmentConfig(w_dim=32, backbone="tiny-backbone", image_size=32, feature_dim=32,
                             map_hidden=16, embed_dim=16, transformer_layers=3, heads=4)
    aligner = WImageAligner(config, tiny.w_avg)
    images, w = faces(tiny, 4)
    e_img, e_w = aligner.embed_images(images), aligner.embed_latents(w)
    assert e_img.shape == e_w.shape == (4, 16)
    torch.testing.assert_close(e_img.norm(dim=-1), torch.ones(4))
    assert abs(aligner.scale.detach().item() - 1 / 0.07) < 1e-3
    loss = aligner.loss(images, w)
    loss.backward()
    assert aligner.logit_scale.grad is not None
    assert all(p.grad is not None for p in aligner.image_tower.backbone.parameters())
    assert aligner.latent_tower.position.grad is not None
    with pytest.raises(RuntimeError, match="freeze"):
        aligner.align_loss(images, w)
    aligner.freeze()
    w_hat = w.clone().requires_grad_(True)
    aligner.align_loss(images, w_hat).backward()
    assert w_hat.grad is not None and w_hat.grad.abs().sum() > 0
    assert aligner.align_loss(images[:1], w[:1], mode="cosine").ndim == 0


@pytest.mark.parametrize("kind", ["psp", "e4e", "clcae"])
@pytest.mark.parametrize("attention", ["paper", "tokens"])
def test_encoder_shapes_and_gradients(tiny, kind, attention):
    enc = make_encoder(tiny, kind, attention=attention)
    images, _ = faces(tiny, 2)
    out = enc(images)
    assert out.w.shape == (2, 32) and out.wplus.shape == (2, tiny.num_ws, 32)
    assert out.deltas.shape == (2, tiny.num_ws, 32)
    if kind == "clcae":
        (name, f), = out.f.items()
        layer = tiny.feature_layer(name)
        assert f.shape == (2, layer.channels, layer.resolution, layer.resolution)
    else:
        assert out.f is None
    if kind == "e4e":
        assert out.deltas[:, 0].abs().max() == 0
    render(tiny, out, 64).square().mean().backward()
    backbone = [p for p in enc.pyramid.backbone.parameters() if p.requires_grad]
    assert backbone and all(p.grad is not None and p.grad.abs().sum() > 0 for p in backbone)
    assert all(p.grad is not None for p in enc.pyramid.lateral.parameters())


def test_untrained_encoder_starts_near_the_average(tiny):
    enc = make_encoder(tiny, "clcae")
    out = enc.invert(faces(tiny, 2)[0])
    spread = tiny.sample_w(64).std(0).mean()
    assert (out.w - tiny.w_avg).abs().mean() < spread
    torch.testing.assert_close(out.wplus, out.w[:, None].expand_as(out.wplus))  # W_O = 0
    name = enc.config.f_layer
    torch.testing.assert_close(out.f[name], out.f_base[name])  # residual F starts at zero


def test_f_path_render_and_edit(tiny):
    enc = make_encoder(tiny, "clcae", f_layer="b1")
    torch.nn.init.normal_(enc.f_attention.conv2.weight, std=0.1)  # a non-zero F offset
    out = enc.invert(faces(tiny, 2)[0])
    assert set(out.f) == {"b1"} and out.f["b1"].shape == (2, 16, 16, 16)
    assert not torch.allclose(out.f["b1"], out.f_base["b1"])
    expected = tiny.synthesis(out.wplus, size=64, features_in=out.f)
    torch.testing.assert_close(render(tiny, out, 64), expected, atol=0, rtol=0)
    assert not torch.allclose(render(tiny, out, 64, use_f=False), expected)
    same = edit_features(tiny, out, out.wplus.clone())
    assert torch.equal(same["b1"], out.f["b1"])
    edited = out.wplus + 0.5 * torch.randn_like(out.wplus)
    f_hat = edit_features(tiny, out, edited)["b1"]
    g_edit = tiny.features(edited, layers=["b1"])["b1"]
    g_orig = tiny.features(out.wplus, layers=["b1"])["b1"]
    torch.testing.assert_close(f_hat, out.f["b1"] + g_edit - g_orig)
    psp_out = make_encoder(tiny, "psp").invert(faces(tiny, 1)[0])
    with pytest.raises(ValueError, match="no F features"):
        edit_features(tiny, psp_out, psp_out.wplus)


def test_direct_f_and_attach_errors(tiny):
    enc = make_encoder(tiny, "clcae", f_residual=False)
    out = enc(faces(tiny, 1)[0])
    assert out.f_base is None and out.f is not None
    enc = make_encoder(tiny, "clcae")
    enc.__dict__["_generator"] = None
    with pytest.raises(RuntimeError, match="attach"):
        enc(faces(tiny, 1)[0])
    with pytest.raises(ValueError, match="only CLCAE"):
        EncoderConfig.for_generator(tiny, "e4e", use_f=True)
    from stylelab import load_generator

    with pytest.raises(ValueError, match="W\\+ codes"):
        make_encoder(tiny, "e4e").attach(load_generator("tiny-stylegan2"))


@pytest.mark.parametrize("kind", ["e4e", "clcae"])
def test_objective_terms_and_gradients(tiny, kind):
    enc = make_encoder(tiny, kind)
    images, w_true = faces(tiny, 2)
    aligner = None
    if kind == "clcae":
        config = AlignmentConfig(w_dim=32, backbone="tiny-backbone", image_size=32,
                                 feature_dim=32, map_hidden=16, embed_dim=16,
                                 transformer_layers=1)
        aligner = WImageAligner(config, tiny.w_avg).freeze()
    objective = EncoderObjective.for_kind(
        kind, perceptual=PerceptualDistance("tiny-backbone"), aligner=aligner)
    total, logs = objective(tiny, enc(images), images, w_true)
    expected = {"wplus/l2", "wplus/perceptual", "latent", "delta", "total"}
    if kind == "clcae":
        expected |= {"w/l2", "w/perceptual", "f/l2", "f/perceptual", "align", "f_reg"}
    assert set(logs) == expected
    assert all(math.isfinite(v) and v >= 0 for v in logs.values())
    total.backward()
    grads = [p.grad for p in enc.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    with pytest.raises(ValueError, match="reconstructions"):
        EncoderObjective(reconstructions=("x",))


def test_encoder_checks_images(tiny):
    enc = make_encoder(tiny, "e4e")
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        enc(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        enc(torch.full((1, 3, 64, 64), 5.0))
    assert enc.invert(torch.zeros(1, 3, 48, 48)).w.shape == (1, 32)  # resized to 64


def test_config_defaults_and_round_trip(tiny):
    config = EncoderConfig(generator="g", w_dim=512, num_ws=23, resolution=1024)
    assert config.pyramid_layers == ("s4", "s8", "s16") and not config.use_f
    assert EncoderConfig.for_generator(tiny, "clcae").use_f
    assert EncoderConfig.for_generator(tiny, "clcae", **SIZES).pyramid_layers is None
    data = json.loads(json.dumps(config.to_dict()))
    assert EncoderConfig.from_dict(data) == config
    with pytest.raises(ValueError, match="unknown encoder config fields"):
        EncoderConfig.from_dict({**data, "extra": 1})
    with pytest.raises(ValueError, match="kind must be"):
        EncoderConfig.for_generator(tiny, "restyle")


@pytest.mark.weights
def test_full_size_encoders(mobile):
    """EfficientNet-Lite0 at 256 px for MobileStyleGAN-FFHQ: shapes, F layer, size budget."""
    from stylelab.perceptual import BackboneUnavailable

    images = torch.rand(1, 3, 256, 256) * 2 - 1
    sizes = {}
    for kind in ("e4e", "clcae"):
        try:
            enc = Encoder(EncoderConfig.for_generator(mobile, kind), mobile)
        except BackboneUnavailable as err:
            pytest.skip(str(err))
        out = enc.invert(images)
        assert out.wplus.shape == (1, mobile.num_ws, 512)
        sizes[kind] = 2 * sum(v.numel() for v in enc.export_state().values()
                              if v.is_floating_point())
        if kind == "clcae":
            assert enc.config.f_layer == "b2" and out.f["b2"].shape == (1, 512, 32, 32)
    assert sum(sizes.values()) < 25e6  # both shipped encoders in fp16
