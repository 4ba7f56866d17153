"""The hub's "Generate" tab: seeds to images, style mixing and interpolation."""

from __future__ import annotations

import gradio as gr
from PIL import Image

from stylelab.latents import parse_seeds
from stylelab.pipelines.edit import check_seed

from .common import (
    CheckedSlider,
    connect,
    error_message,
    friendly_errors,
    load_model,
    parse_size,
    png_file,
)
from .gate import BULK, RENDERS
from .limits import LIMITS, RENDER

SPACES = {"W": "w", "W+": "w+"}


@friendly_errors
def generate(model: str, seeds: str, truncation: float, size: int | str,
             progress: gr.Progress = gr.Progress(track_tqdm=True)) -> list[tuple[str, str]]:
    """Gallery items ``(image, "seed N, ψ T")``, one per seed (at most LIMITS.max_seeds)."""
    pipe, _ = load_model(model)
    seeds = parse_seeds(seeds if isinstance(seeds, str) else str(seeds), LIMITS.max_seeds)
    faces = pipe.iter_generate(seeds, truncation, parse_size(size), batch_size=1)
    gallery = []
    for _ in seeds:  # one render place per face: sliders need not wait for a whole batch
        with RENDERS.slot(BULK):
            seed, image = next(faces)
        gallery.append((png_file(image), f"seed {seed}, ψ {float(truncation):g}"))
    return gallery


@friendly_errors
def mix(model: str, seed_a: int, seed_b: int, start: int, stop: int, truncation: float,
        size: int | str, progress: gr.Progress = gr.Progress(track_tqdm=True)
        ) -> tuple[Image.Image, Image.Image, Image.Image]:
    """Images A, B and A with B's styles on W+ layers ``start..stop``."""
    pipe, _ = load_model(model)
    with RENDERS.slot(BULK):
        return pipe.mix(_seed(seed_a), _seed(seed_b), (start, stop), truncation,
                        parse_size(size))


@friendly_errors
def interpolate(model: str, seed_a: int, seed_b: int, steps: int, space: str, start: int,
                stop: int, truncation: float, size: int | str,
                progress: gr.Progress = gr.Progress(track_tqdm=True)) -> Image.Image:
    """One strip of ``steps`` frames from A to B (in W+, only layers ``start..stop`` move)."""
    if space not in SPACES:
        raise ValueError(f"space must be one of {list(SPACES)}, got {space!r}")
    pipe, _ = load_model(model)
    with RENDERS.slot(BULK):
        return pipe.interpolation(_seed(seed_a), _seed(seed_b), steps, SPACES[space],
                              (start, stop), truncation, parse_size(size))


def select_model(model: str, current: str) -> tuple:
    """Load ``model`` and fit the controls to them (sizes, truncation, W+ layer range). If it
    cannot load, say why once, put the picker back on ``current`` and leave the controls."""
    try:
        _, facts = load_model(model)
    except Exception as exc:  # noqa: BLE001 - any failure: keep the working model
        gr.Warning(f"cannot use {model!r}: {error_message(exc)}")
        return (current, gr.update(value=current)) + (gr.skip(),) * 5
    last = facts.num_ws - 1
    return (model, gr.skip(), facts.description,
            gr.update(choices=list(facts.sizes), value=facts.default_size),
            gr.update(value=facts.truncation),
            gr.update(maximum=last, value=0),
            gr.update(maximum=last, value=_default_stop(last)))


def _seed(value: float | None) -> int:
    if value is None:
        raise ValueError("enter a seed for A and for B")
    return check_seed(value)


def _default_stop(last: int) -> int:
    """Mix the coarse quarter of the W+ layers by default (pose, face shape)."""
    return max(0, last // 4)


def build_tab(default_model: str, model: gr.Dropdown, current: gr.State) -> None:
    """Add the Generate tab to the enclosing ``gr.Blocks``; ``model`` is the hub's model
    picker, ``current`` the last model that loaded."""
    _, facts = load_model(default_model)
    last = facts.num_ws - 1
    with gr.Tab("Generate", id="generate"):
        info = gr.Markdown(facts.description, elem_id="model-info")
        with gr.Row():
            seeds = gr.Textbox("0-7", label="Seeds", info="e.g. 0-7 or 1,5,9-11",
                               elem_id="seeds", scale=2)
            truncation = CheckedSlider(0, 2, facts.truncation, step=0.05, label="Truncation ψ",
                                       elem_id="truncation")
            size = gr.Dropdown(list(facts.sizes), value=facts.default_size, label="Output size",
                               allow_custom_value=True, elem_id="size")
        gen_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn")
        status = gr.Markdown(elem_id="generate-status")
        gallery = gr.Gallery(label="Images", format="png", columns=4, elem_id="gallery")

        gr.Markdown("### Style mixing and interpolation")
        with gr.Row():
            seed_a = gr.Number(0, label="Seed A", minimum=0, elem_id="seed-a")
            seed_b = gr.Number(1, label="Seed B", minimum=0, elem_id="seed-b")
            start = CheckedSlider(0, last, 0, step=1, label="W+ layers from", elem_id="layer-start")
            stop = CheckedSlider(0, last, _default_stop(last), step=1, label="W+ layers to",
                                 elem_id="layer-stop")
        mix_btn = gr.Button("Mix styles (B's layers into A)", elem_id="mix-btn")
        with gr.Row():
            img_a = gr.Image(label="A", format="png", elem_id="mix-a")
            img_b = gr.Image(label="B", format="png", elem_id="mix-b")
            img_mix = gr.Image(label="A with B's layers", format="png", elem_id="mix-out")
        with gr.Row():
            steps = gr.Slider(2, 16, 7, step=1, label="Steps", elem_id="steps")
            space = gr.Radio(list(SPACES), value="W", label="Space",
                             info="W+ moves only the chosen layers", elem_id="space")
        interp_btn = gr.Button("Interpolate A → B", elem_id="interp-btn")
        strip = gr.Image(label="Interpolation", format="png", elem_id="interp-strip")

        gen_inputs = [model, seeds, truncation, size]
        connect(gen_btn.click, generate, gen_inputs, [gallery], status, "generate", **RENDER)
        connect(seeds.submit, generate, gen_inputs, [gallery], status, **RENDER)
        connect(mix_btn.click, mix, [model, seed_a, seed_b, start, stop, truncation, size],
                [img_a, img_b, img_mix], status, "mix", **RENDER)
        connect(interp_btn.click, interpolate, [model, seed_a, seed_b, steps, space, start, stop,
                                                truncation, size], [strip], status,
                "interpolate", **RENDER)
    model.change(select_model, [model, current],
                 [current, model, info, size, truncation, start, stop], api_name="select_model")
