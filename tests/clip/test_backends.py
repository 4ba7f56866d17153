"""open_clip and transformers backends on tiny random models, through a fake hub cache.

Each backend's tests skip (saying why) only when that backend cannot be imported here.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab.clip import (
    DEFAULT_CLIP,
    ClipError,
    ClipUnavailableError,
    TextImageModel,
    available_clip_models,
    clip_preprocess,
    load_clip,
)

OC_MEAN, OC_STD = (0.5, 0.45, 0.4), (0.25, 0.3, 0.2)  # unusual: proves they are read
OC_CFG = dict(embed_dim=32,
              vision_cfg=dict(image_size=64, patch_size=16, width=32, layers=2, head_width=16),
              text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1))
LONG_PROMPT = " ".join(["face"] * 100)


def _import_or_skip(backend: str):
    """The backend module(s), or skip with the reason stylelab gives for it being unusable."""
    from stylelab.clip.hf import import_transformers_clip
    from stylelab.clip.openclip import import_open_clip

    try:
        if backend == "open_clip":
            return import_open_clip()
        import_transformers_clip()
    except ClipUnavailableError as e:
        if os.environ.get("CI"):  # the CI environment installs both backends: never skip there
            pytest.fail(f"{backend} must be importable in CI: {e}")
        pytest.skip(f"{backend} cannot be imported here: {e}")
    from transformers import AutoTokenizer, CLIPConfig, CLIPModel

    return AutoTokenizer, CLIPConfig, CLIPModel


def _photo(h: int = 256, w: int = 320) -> Image.Image:
    """A smooth, photo-like RGB test image: gradients, a bright disc, mild noise."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    rgb = np.stack([0.5 + 0.4 * np.sin(6 * xx + 2 * yy),
                    0.5 + 0.4 * np.cos(5 * yy - 3 * xx * yy),
                    np.clip(1.2 - 6 * ((xx - 0.5) ** 2 + (yy - 0.4) ** 2), 0, 1)], -1)
    rgb += np.random.default_rng(0).normal(0, 0.02, rgb.shape)
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))


def _to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB -> ``(1, 3, H, W)`` in [-1, 1]."""
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 127.5 - 1


# ---------------------------------------------------------------- open_clip


@pytest.fixture(scope="module")
def oc_files(tmp_path_factory, put_repo):
    """Tiny random open_clip weights + config, in the fake hub as ``org/tiny-clip``."""
    open_clip = _import_or_skip("open_clip")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    ref = open_clip.model.CLIP(**OC_CFG).eval()
    folder = tmp_path_factory.mktemp("open-clip-tiny")
    weights = folder / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(weights))
    (folder / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": OC_CFG, "preprocess_cfg": {"mean": OC_MEAN, "std": OC_STD}}))
    (folder / "stylelab-tiny-clip.json").write_text(json.dumps(OC_CFG))
    put_repo("org/tiny-clip", {f: folder / f for f in
                               ("open_clip_config.json", "open_clip_model.safetensors")})
    return {"weights": weights, "arch_json": folder / "stylelab-tiny-clip.json"}


@pytest.fixture(scope="module")
def oc_clip(oc_files) -> TextImageModel:
    return load_clip("hf-hub:org/tiny-clip")


def test_open_clip_from_hub_cache(oc_clip):
    assert oc_clip.name == "open_clip:hf-hub:org/tiny-clip"
    assert (oc_clip.embed_dim, oc_clip.image_size, oc_clip.context_length) == (32, 64, 77)
    assert oc_clip.mean == pytest.approx(OC_MEAN) and oc_clip.std == pytest.approx(OC_STD)
    assert load_clip("hf-hub:org/tiny-clip") is oc_clip
    assert load_clip("open_clip:hf-hub:org/tiny-clip").name == oc_clip.name
    assert "hf-hub:org/tiny-clip" in available_clip_models()


def test_open_clip_local_weight_file(oc_files, oc_clip):
    open_clip = _import_or_skip("open_clip")
    open_clip.add_model_config(oc_files["arch_json"])  # a custom arch, as users may add
    pt_file = oc_files["weights"].with_suffix(".pt")  # a plain state dict (weights_only load)
    torch.save(oc_clip.model.state_dict(), pt_file)
    prompts = ["a smiling face", "a face with glasses"]
    for weights in (oc_files["weights"], pt_file):
        clip = load_clip(f"open_clip:stylelab-tiny-clip/{weights}")
        assert clip.name == f"open_clip:stylelab-tiny-clip/{weights}"
        torch.testing.assert_close(clip.encode_text(prompts), oc_clip.encode_text(prompts))
    with pytest.raises(ClipError, match="neither a pretrained tag"):
        load_clip("open_clip:stylelab-tiny-clip/no-such-tag")


def test_open_clip_matches_reference_preprocess(oc_clip):
    """Our torch preprocessing vs open_clip's PIL pipeline on a photo-like image."""
    open_clip = _import_or_skip("open_clip")
    cfg = oc_clip.model.visual.preprocess_cfg
    pil_preprocess = open_clip.image_transform(cfg["size"], False, cfg["mean"], cfg["std"],
                                               cfg["resize_mode"], cfg["interpolation"])
    img = _photo()
    ref_pixels = pil_preprocess(img)[None]
    ours_pixels = clip_preprocess(_to_tensor(img), 64, OC_MEAN, OC_STD)
    # random towers map all images to similar directions: compare the pixels too
    assert (ours_pixels - ref_pixels).abs().mean() < 0.03
    with torch.no_grad():
        ref = oc_clip.model.encode_image(ref_pixels)
        ours = oc_clip.encode_image(_to_tensor(img))
    assert torch.nn.functional.cosine_similarity(ours, ref).item() >= 0.99
    tokens = open_clip.get_tokenizer("ViT-B-32")(["a smiling face"])
    assert oc_clip.count_tokens("a smiling face") == int((tokens != 0).sum())


# ---------------------------------------------------------------- transformers


def _bpe_vocab() -> tuple[dict[str, int], list[str]]:
    """CLIP's byte-level BPE vocab and merges from open_clip's bundled file (read from disk,
    open_clip is not imported), or a bytes-only vocab without merges when it is absent."""
    byte_chars = _byte_chars()
    vocab = byte_chars + [c + "</w>" for c in byte_chars]
    merges: list[str] = []
    spec = importlib.util.find_spec("open_clip")
    bpe = Path(spec.submodule_search_locations[0]) / "bpe_simple_vocab_16e6.txt.gz" if spec \
        else None
    if bpe is not None and bpe.is_file():
        merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
        vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(vocab)}, merges


def _byte_chars() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for bytes, in CLIP's order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) for b in printable] + [chr(next(extra)) for b in range(256)
                                          if b not in printable]


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory, put_repo) -> Path:
    """A tiny random transformers CLIP folder (model, tokenizer, preprocessor config), also
    in the fake hub as ``org/tiny-hf-clip``."""
    auto_tokenizer, clip_config, clip_model = _import_or_skip("transformers")
    vocab, merges = _bpe_vocab()
    folder = tmp_path_factory.mktemp("hf-clip-tiny")
    ids = {k: vocab[t] for k, t in (("bos_token_id", "<|startoftext|>"),
                                    ("eos_token_id", "<|endoftext|>"),
                                    ("pad_token_id", "<|endoftext|>"))}
    config = clip_config(
        text_config=dict(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2,
                         max_position_embeddings=77, **ids),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=64, patch_size=16),
        projection_dim=24)
    torch.manual_seed(0)
    clip_model(config).save_pretrained(folder)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    auto_tokenizer.from_pretrained(folder).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(
        {"image_processor_type": "CLIPImageProcessor", "image_mean": list(OC_MEAN),
         "image_std": list(OC_STD), "size": {"shortest_edge": 64},
         "crop_size": {"height": 64, "width": 64}}))
    put_repo("org/tiny-hf-clip", {p.name: p for p in folder.iterdir() if p.is_file()})
    return folder


@pytest.fixture(scope="module")
def hf_clip(hf_folder) -> TextImageModel:
    return load_clip(str(hf_folder))


def test_transformers_from_folder(hf_clip, hf_folder):
    assert hf_clip.name == f"transformers:{hf_folder}"
    assert (hf_clip.embed_dim, hf_clip.image_size, hf_clip.context_length) == (24, 64, 77)
    assert hf_clip.mean == pytest.approx(OC_MEAN) and hf_clip.std == pytest.approx(OC_STD)
    assert load_clip(f"transformers:{hf_folder}").name == hf_clip.name


def test_transformers_from_hub_cache(hf_clip):
    clip = load_clip("transformers:org/tiny-hf-clip")
    assert clip.name == "transformers:org/tiny-hf-clip"
    assert "transformers:org/tiny-hf-clip" in available_clip_models()
    prompts = ["a smiling face", "a face with glasses"]
    torch.testing.assert_close(clip.encode_text(prompts), hf_clip.encode_text(prompts))


def test_transformers_matches_model_forward(hf_clip):
    """Our features equal the normalised embeddings of ``CLIPModel.forward``."""
    pixels = torch.rand(2, 3, 64, 64) * 2 - 1
    prompts = ["a smiling face", LONG_PROMPT]
    enc = hf_clip.tokenizer(prompts, padding=True, truncation=True, max_length=77,
                            return_tensors="pt")
    with torch.no_grad():
        out = hf_clip.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                            pixel_values=clip_preprocess(pixels, 64, OC_MEAN, OC_STD))
    torch.testing.assert_close(hf_clip.encode_image(pixels), out.image_embeds)
    torch.testing.assert_close(hf_clip.encode_text(prompts), out.text_embeds)


def test_default_falls_back_to_cached_transformers_weights(hf_folder, put_repo):
    """No open_clip ViT-B/32 weights cached, transformers' are: the default uses them."""
    put_repo("openai/clip-vit-base-patch32",
             {p.name: p for p in hf_folder.iterdir() if p.is_file()})
    assert DEFAULT_CLIP in available_clip_models()
    assert load_clip(DEFAULT_CLIP).name == "transformers:openai/clip-vit-base-patch32"


# ---------------------------------------------------------------- both backends


@pytest.fixture(params=["open_clip", "transformers"])
def clip(request) -> TextImageModel:
    return request.getfixturevalue("oc_clip" if request.param == "open_clip" else "hf_clip")


def test_shapes_norms_and_gradients(clip):
    images = (torch.rand(2, 3, 96, 80) * 2 - 1).requires_grad_(True)
    img = clip.encode_image(images)
    txt = clip.encode_text(["a smiling face", LONG_PROMPT, "an old man"])
    assert img.shape == (2, clip.embed_dim) and txt.shape == (3, clip.embed_dim)
    torch.testing.assert_close(img.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(txt.norm(dim=-1), torch.ones(3))
    (1 - img @ txt[0]).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert torch.isfinite(images.grad).all()
    assert all(p.grad is None and not p.requires_grad for p in clip.parameters())


def test_prompt_checks(clip):
    short = clip.check_prompt("a smiling face")
    assert not short.truncated and short.message == "" and 4 <= short.tokens <= 8
    long = clip.check_prompt(LONG_PROMPT)
    assert long.truncated and long.tokens == 102 and "77" in long.message
    for empty in ("", "   "):
        with pytest.raises(ClipError, match="empty"):
            clip.check_prompt(empty)
        with pytest.raises(ClipError, match="empty"):
            clip.encode_text(["a face", empty])
