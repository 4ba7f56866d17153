import numpy as np
import pytest
import torch

from stylelab.latents import interpolate, parse_seeds, slerp, style_mix, z_from_seeds


@pytest.mark.parametrize("text,expected", [("0-3", [0, 1, 2, 3]), ("1, 5,9-10", [1, 5, 9, 10]),
                                           (7, [7]), ([2, 3], [2, 3]), ("4294967295", [2**32 - 1])])
def test_parse_seeds(text, expected):
    assert parse_seeds(text) == expected


@pytest.mark.parametrize("text,match", [("abc", "bad seed"), ("-5", "bad seed"), ("5-2", "below"),
                                        ("", "no seeds"), ("4294967296", "out of range"),
                                        ("0-5000", "too many")])
def test_parse_seeds_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_seeds(text)


def test_seed_convention_matches_numpy():
    z = z_from_seeds([42])
    torch.testing.assert_close(z, torch.from_numpy(np.random.RandomState(42).randn(1, 512)).float())


def test_style_mix_and_range_check():
    a, b = torch.zeros(2, 6, 4), torch.ones(1, 6, 4)
    m = style_mix(a, b, range(2, 4))
    assert m[:, 2:4].eq(1).all() and m[:, :2].eq(0).all() and m[:, 4:].eq(0).all()
    assert a.eq(0).all()  # pure: inputs untouched
    with pytest.raises(ValueError, match="outside"):
        style_mix(a, b, range(4, 8))


def test_interpolation_endpoints(tiny):
    w = tiny.map(z_from_seeds([0, 1], tiny.z_dim))
    path = interpolate(tiny, w[:1], w[1:], 5, "w")
    torch.testing.assert_close(path[0], w[0])
    torch.testing.assert_close(path[-1], w[1])
    plus = interpolate(tiny, w[:1], w[1:], 3, "w+", layers=range(2))
    assert plus.shape == (3, tiny.num_ws, tiny.w_dim)
    torch.testing.assert_close(plus[-1, 5], w[0])  # layers outside the range stay at A
    torch.testing.assert_close(plus[-1, 0], w[1])
    s = slerp(torch.randn(1, 8), torch.randn(1, 8), 4)
    assert s.shape == (4, 8)
