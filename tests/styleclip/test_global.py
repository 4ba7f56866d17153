"""Global directions: Δt, β threshold, α, and the edit moving the planted axis."""

from __future__ import annotations

import pytest
import torch
from planted import PLANTED, SIZE

from stylelab.clip import ClipError
from stylelab.models.stylespace import flatten_styles
from stylelab.styleclip import TEMPLATES, apply_global, global_direction, text_direction


def test_text_direction_averages_templates(planted_clip):
    dt = text_direction(planted_clip, "gamma", "face")
    assert dt.shape == (planted_clip.embed_dim,)
    assert torch.isclose(dt.norm(), torch.tensor(1.0))
    assert int(dt.argmax()) == 3 and len(TEMPLATES) > 5


def test_prompt_errors(planted_clip):
    with pytest.raises(ClipError, match="same"):
        text_direction(planted_clip, "A face", "a  face")
    with pytest.raises(ClipError, match="empty"):
        text_direction(planted_clip, "  ", "a face")
    with pytest.raises(ClipError, match="identically"):
        text_direction(planted_clip, "a photo", "a face")  # no known word: same embedding


def test_beta_and_alpha(tiny, planted_clip, tiny_relevance):
    dt = text_direction(planted_clip, "a face with alpha", "a face")
    loose = global_direction(tiny_relevance, dt, beta=0.0)
    strict = global_direction(tiny_relevance, dt, beta=0.9)
    assert strict.channels < loose.channels and strict.channels >= 1
    assert strict.delta_s.abs().max() == 1.0
    assert strict.top(tiny, 1)[0][0] == "conv1:5"
    with pytest.raises(ValueError, match="lower β"):
        global_direction(tiny_relevance, dt, beta=0.9999)

    w = tiny.map(torch.randn(4, tiny.z_dim, generator=torch.Generator().manual_seed(9)), 0.7)
    styles = tiny.w_to_s(w)
    with torch.no_grad():
        axis = [planted_clip.encode_image(tiny.synthesis(
            apply_global(tiny, styles, strict, tiny_relevance, a), size=SIZE))[:, 1].mean()
            for a in (-4.0, 0.0, 4.0)]
    assert axis[0] < axis[1] < axis[2]
    moved = flatten_styles(tiny, apply_global(tiny, styles, strict, tiny_relevance, 2.0))
    change = (moved - flatten_styles(tiny, styles)).abs().mean(0)
    assert int(change.argmax()) == PLANTED["alpha"] or change[PLANTED["alpha"]] > 0
    assert (change > 0).sum() == strict.channels


def test_max_channels_keeps_the_most_relevant(planted_clip, tiny_relevance):
    dt = text_direction(planted_clip, "a face with alpha", "a face")
    loose = global_direction(tiny_relevance, dt, beta=0.0)
    capped = global_direction(tiny_relevance, dt, beta=0.0, max_channels=5)
    assert capped.channels == 5 < loose.channels
    top5 = set(loose.scores.abs().argsort(descending=True)[:5].tolist())
    assert set(capped.delta_s.nonzero().flatten().tolist()) == top5
    assert capped.delta_s.abs().max() == 1.0
    assert torch.equal(global_direction(tiny_relevance, dt, 0.0, max_channels=0).delta_s,
                       loose.delta_s)
    few = global_direction(tiny_relevance, dt, beta=0.9)  # β already keeps fewer: unchanged
    assert torch.equal(global_direction(tiny_relevance, dt, 0.9, max_channels=50).delta_s,
                       few.delta_s)


@pytest.mark.parametrize("value", [-1, 2.5, float("nan"), "many"])
def test_settings_refuse_bad_max_channels(value):
    from stylelab.pipelines.textedit import TextEditSettings

    with pytest.raises(ValueError, match="max channels"):
        TextEditSettings("global", max_channels=value).check()
