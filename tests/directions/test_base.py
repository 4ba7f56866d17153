"""Direction objects: files, compatibility checks, pure W/W+/S edits, layer ranges."""

import pytest
import torch

from stylelab.directions.base import Direction, DirectionError, apply_edits, check_layers, edit_w
from stylelab.models.stylespace import flatten_styles, latent_signature, s_dim, unflatten_styles


def make(G, space="w", names=("a", "b")):
    dim = G.w_dim if space == "w" else s_dim(G)
    return Direction(names=list(names), vectors=torch.randn(len(names), dim), space=space,
                     model=G.model_name, method="test", signature=latent_signature(G, space),
                     scales=torch.tensor([1.0, 2.0][:len(names)]), metadata={"x": [1, 2]})


def test_save_load_roundtrip(tiny, tmp_path):
    d = make(tiny)
    d.layers = (1, 3)
    d.save(tmp_path / "dir")
    back = Direction.load(tmp_path / "dir.safetensors")
    assert back.names == d.names and back.layers == (1, 3) and back.metadata == d.metadata
    torch.testing.assert_close(back.vectors, d.vectors)
    torch.testing.assert_close(back.scales, d.scales)


def test_load_errors(tmp_path):
    with pytest.raises(DirectionError, match="needs both"):
        Direction.load(tmp_path / "missing")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(DirectionError, match="not a stylelab direction"):
        Direction.load(tmp_path / "bad")


def test_wrong_generator_or_space(tiny, mobile):
    d = make(tiny)
    with pytest.raises(DirectionError, match="made for 'tiny-test'.*Compute the direction again"):
        d.check(mobile)
    with pytest.raises(DirectionError, match="cannot combine"):
        d.check_compatible(make(tiny, "s"))


def test_layer_ranges(tiny):
    assert check_layers(tiny, None) == (0, tiny.num_ws)
    for bad in [(0, 0), (-1, 2), (0, tiny.num_ws + 1), (3, 2)]:
        with pytest.raises(DirectionError, match="outside this model"):
            check_layers(tiny, bad)


def test_edit_w_is_pure_and_layer_local(tiny):
    w = tiny.map(torch.randn(2, tiny.z_dim))
    v = torch.randn(tiny.w_dim)
    out = edit_w(tiny, w, v, 2.0, (1, 3))
    assert out.shape == (2, tiny.num_ws, tiny.w_dim)
    wp = tiny.to_wplus(w)
    torch.testing.assert_close(out[:, 1:3], wp[:, 1:3] + 2 * v)
    torch.testing.assert_close(out[:, 0], wp[:, 0])
    torch.testing.assert_close(out[:, 3:], wp[:, 3:])
    assert edit_w(tiny, w, v, 1.0).shape == w.shape  # all layers on W stays W


def test_s_edit_moves_one_channel(tiny):
    w = tiny.map(torch.randn(1, tiny.z_dim))
    d = make(tiny, "s", ["c"])
    d.vectors.zero_()
    d.vectors[0, 5] = 1.0
    styles = apply_edits(tiny, w, [(d, "c", 3.0, None)])
    flat, base = flatten_styles(tiny, styles), flatten_styles(tiny, tiny.w_to_s(w))
    changed = (flat - base).abs() > 1e-6
    assert changed.sum() == 1 and changed[0, 5]
    torch.testing.assert_close(flat[0, 5] - base[0, 5], torch.tensor(3.0))  # 3 x scale 1
    torch.testing.assert_close(flatten_styles(tiny, unflatten_styles(tiny, flat)), flat)
    assert tiny.synthesis(styles).shape[0] == 1  # S dicts are accepted positionally


def test_unknown_name(tiny):
    with pytest.raises(DirectionError, match="no direction named 'zz'.*valid: a, b"):
        make(tiny).vector("zz")
