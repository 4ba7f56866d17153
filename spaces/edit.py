"""The Edit tab: sliders for named (InterFaceGAN), GANSpace and StyleSpace directions on the
current face (a seed, or the face inverted in the Invert tab), a W+ layer range,
conditional toggles, reset, before/after, and a custom direction from labelled photos."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import gradio as gr
from PIL import Image

from stylelab.directions.base import Direction
from stylelab.pipelines.edit import SliderSpec, get_edit_pipeline

from .common import CheckedSlider, friendly_errors, load_model

SOURCES = ("Seed", "Inverted face (Invert tab)")
_BEFORE: OrderedDict[tuple, Image.Image] = OrderedDict()  # unedited faces: redraw only "after"


def _source(model: str, source: str, seed: float, truncation: float, inverted: dict | None):
    """(pipeline, w, PTI delta) of the current face."""
    pipe = get_edit_pipeline(model)
    if source == SOURCES[1]:
        if not inverted:
            raise ValueError("no inverted face yet: invert a photo in the Invert tab first")
        if inverted.get("model") != model:
            raise ValueError(f"the inverted face belongs to {inverted.get('model')!r}; "
                             f"switch the model back or invert again")
        return pipe, inverted["latent"], inverted.get("generator_delta")
    if seed is None:
        raise ValueError("enter a seed")
    return pipe, pipe.seed_latent(int(seed), truncation), None


@friendly_errors
def edit(model: str, source: str, seed: float, truncation: float, inverted: dict | None,
         custom: dict | None, start: float, stop: float, conditions: list[str] | None,
         *strengths: float, progress: gr.Progress = gr.Progress(track_tqdm=True)
         ) -> tuple[Image.Image, Image.Image]:
    """(before, after) at 256px. ``strengths`` follow :meth:`EditPipeline.sliders`, then
    the custom slider. For a generator without shipped directions, the first use of a
    set computes it (labelling faces for InterFaceGAN/StyleSpace) with a progress bar."""
    pipe, w, delta = _source(model, source, seed, truncation, inverted)
    specs = pipe.sliders()
    if len(strengths) != len(specs) + 1:
        raise ValueError(f"expected {len(specs) + 1} slider values, got {len(strengths)}")
    values = {spec.key: float(v or 0.0) for spec, v in zip(specs, strengths)}
    direction = None
    if custom:
        direction = custom["direction"]
        values["custom/" + direction.names[0]] = float(strengths[-1] or 0.0)
    layers = (int(start), int(stop) + 1)
    key = (model, source, seed, truncation, id(inverted and inverted.get("latent")))
    before = _BEFORE.get(key)
    if before is None:
        before = _BEFORE[key] = pipe.render(w, delta=delta)
        while len(_BEFORE) > 8:
            _BEFORE.popitem(last=False)
    after = pipe.render(w, values, layers=layers, conditions=conditions or [], custom=direction,
                        delta=delta)
    return before, after


def slider_edit(model: str, source: str, seed: float, truncation: float,
                inverted: dict | None, custom: dict | None, start: float, stop: float,
                conditions: list[str] | None, *strengths: float,
                progress: gr.Progress = gr.Progress(track_tqdm=True)) -> Image.Image:
    """What releasing a slider does: only the "after" image is redrawn and sent (the
    "before" face has not changed), which halves the PNG encoding and transfer."""
    return edit(model, source, seed, truncation, inverted, custom, start, stop, conditions,
                *strengths)[1]


@friendly_errors
def custom_direction(model: str, with_files: list[Any] | None, without_files: list[Any] | None,
                     name: str, steps: float,
                     progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[dict, str]:
    """Invert both folders and average their W difference into a custom direction."""
    paths = [[getattr(f, "name", f) for f in files or []] for files in (with_files, without_files)]
    direction: Direction = get_edit_pipeline(model).direction_from_photos(
        paths[0], paths[1], name=(name or "custom").strip() or "custom", steps=int(steps))
    skipped = direction.metadata.get("skipped", [])
    note = (f"Custom direction **{direction.names[0]}** from {direction.metadata['positives']} + "
            f"{direction.metadata['negatives']} photos. Move the *Custom* slider.")
    if skipped:
        note += " Skipped: " + "; ".join(skipped)
    return {"direction": direction}, note


@friendly_errors
def select_model(model: str) -> tuple:
    """Fit the layer range and truncation to a newly picked model."""
    _, facts = load_model(model)
    last = facts.num_ws - 1
    return (gr.update(maximum=last, value=0), gr.update(maximum=last, value=last),
            gr.update(value=facts.truncation))


def _slider(spec: SliderSpec) -> gr.Slider:
    return CheckedSlider(-spec.limit, spec.limit, 0.0, step=spec.limit / 50, label=spec.label,
                         elem_id="edit-" + spec.key.replace("/", "-").replace(" ", "-")
                         .replace("(", "").replace(")", "").replace(":", "-").replace(".", "-"))


def build_tab(default_model: str, model: gr.Dropdown, inverted: gr.State) -> None:
    """Add the Edit tab; ``inverted`` is the Invert tab's session state."""
    _, facts = load_model(default_model)
    pipe = get_edit_pipeline(default_model)
    specs = pipe.sliders()
    last = facts.num_ws - 1
    custom = gr.State(None)
    with gr.Tab("Edit", id="edit"):
        gr.Markdown("Move a slider and release it: the face is redrawn at 256px. Strengths are "
                    "in standard deviations of the latent along each direction.")
        with gr.Row():
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Face", elem_id="edit-source")
            seed = gr.Number(0, label="Seed", precision=0, elem_id="edit-seed")
            truncation = CheckedSlider(0, 2, facts.truncation, step=0.05, label="Truncation ψ",
                                       elem_id="edit-truncation")
            show = gr.Button("Show face", variant="primary", elem_id="edit-show")
        with gr.Row():
            before = gr.Image(label="Before", format="png", elem_id="edit-before")
            after = gr.Image(label="After", format="png", elem_id="edit-after")
        with gr.Row():
            start = CheckedSlider(0, last, 0, step=1, label="W+ layers from", elem_id="edit-start")
            stop = CheckedSlider(0, last, last, step=1, label="W+ layers to", elem_id="edit-stop")
            conditions = gr.CheckboxGroup(pipe.attributes(), label="Keep unchanged (conditional)",
                                          elem_id="edit-conditions")
        sliders: list[gr.Slider] = []
        groups = (("interfacegan", "Attributes (InterFaceGAN)"), ("ganspace", "GANSpace PCA"),
                  ("stylespace", "StyleSpace channels"))
        for kind, title in groups:
            with gr.Accordion(title, open=kind != "stylespace"), gr.Row():
                sliders += [_slider(s) for s in specs if s.kind == kind]
        with gr.Accordion("Custom direction from your photos", open=False):
            with gr.Row():
                with_files = gr.File(label="Photos WITH the attribute", file_count="multiple",
                                     file_types=["image"], elem_id="edit-with")
                without_files = gr.File(label="Photos WITHOUT it", file_count="multiple",
                                        file_types=["image"], elem_id="edit-without")
            with gr.Row():
                name = gr.Textbox("custom", label="Name", elem_id="edit-custom-name")
                steps = CheckedSlider(10, 500, 100, step=10, label="Inversion steps per photo")
            compute = gr.Button("Compute direction", elem_id="edit-custom-btn")
            note = gr.Markdown(elem_id="edit-custom-note")
        custom_slider = _slider(SliderSpec("custom/custom", "Custom", 5.0))
        reset = gr.Button("Reset", elem_id="edit-reset")

    inputs = [model, source, seed, truncation, inverted, custom, start, stop, conditions,
              *sliders, custom_slider]
    outputs = [before, after]
    show.click(edit, inputs, outputs, api_name="edit")  # first, so it keeps the name "edit"
    for i, slider in enumerate([*sliders, custom_slider, start, stop]):
        slider.release(slider_edit, inputs, after, show_progress="minimal",
                       **({"api_name": "slider"} if i == 0 else {"api_visibility": "private"}))
    truncation.release(edit, inputs, outputs, api_visibility="private")
    for control in (source, conditions):
        control.change(edit, inputs, outputs, api_visibility="private")
    seed.submit(edit, inputs, outputs, api_visibility="private")

    def zeros() -> list[float]:
        return [0.0] * (len(sliders) + 1) + [0, last, []]

    reset.click(zeros, None, [*sliders, custom_slider, start, stop, conditions],
                api_visibility="private").then(edit, inputs, outputs, api_visibility="private")
    model.change(select_model, model, [start, stop, truncation], api_visibility="private")
    compute.click(custom_direction, [model, with_files, without_files, name, steps],
                  [custom, note], api_name="custom_direction")
