"""The Edit tab: sliders for named (InterFaceGAN), GANSpace and StyleSpace directions on the
current face (a seed, or the face inverted in the Invert tab), a W+ layer range,
conditional toggles, reset, before/after, and a custom direction from labelled photos."""

from __future__ import annotations

from typing import Any, NamedTuple

import gradio as gr
import torch
from PIL import Image

from stylelab.faces.regions import REGIONS
from stylelab.hashing import content_digest
from stylelab.images import from_pil
from stylelab.local import face_region_mask
from stylelab.lru import LRUCache
from stylelab.pipelines.edit import EditPipeline, SliderSpec, check_seed
from stylelab.pipelines.generate import layer_range

from .common import HUB, CheckedSlider, connect, friendly_errors, load_model, png_file
from .gate import INTERACTIVE, RENDERS
from .invert import cancel, upload_path
from .limits import JOBS, LIMITS, RENDER
from .state import CANCEL, inverted_delta

SOURCES = ("Seed", "Inverted face (Invert tab)")
CUSTOM_LIMIT = 5.0


#: unedited faces already rendered, keyed by the content of the face (model, latent, PTI
#: token): never shared between two faces
BEFORE: LRUCache[str, Image.Image] = LRUCache(16)


class Face(NamedTuple):
    """The current face: its pipeline, latent, PTI delta, CLCAE F features and cache key."""

    pipe: EditPipeline
    w: torch.Tensor
    delta: dict | None
    key: str
    features: dict | None = None


def face_source(model: str, source: str, seed: float, truncation: float,
                inverted: dict | None) -> Face:
    """The current face: a seed's, or the one inverted in the Invert tab."""
    pipe = HUB.edit(model)
    if source == SOURCES[1]:
        if not inverted:
            raise ValueError("no inverted face yet: invert a photo in the Invert tab first")
        if inverted.get("model") != model:
            raise ValueError(f"the inverted face belongs to {inverted.get('model')!r}; "
                             f"switch the model back or invert again")
        w, features = inverted["latent"], inverted.get("features")
        key = content_digest(model, w, inverted.get("delta_token"), features)
        return Face(pipe, w, inverted_delta(inverted), key, features)
    if source != SOURCES[0]:
        raise ValueError(f"face source must be one of {list(SOURCES)}, got {source!r}")
    if seed is None:
        raise ValueError("enter a seed")
    w = pipe.seed_latent(check_seed(seed), truncation)
    return Face(pipe, w, None, content_digest(model, w))


WHOLE = "whole image"


def before_image(face: Face) -> Image.Image:
    """The unedited face, rendered once per face (cached as an image: a PNG file's ring slot
    is reused later)."""
    def render() -> Image.Image:
        with RENDERS.slot(INTERACTIVE):
            return face.pipe.render(face.w, delta=face.delta, features=face.features)

    return BEFORE.get_or_create(face.key, render)


def region_mask(face: Face, region: str | None) -> torch.Tensor | None:
    """The mask of ``region`` on the current face (None for the whole image); dlib finds the
    face on its unedited render (the average face's regions when it finds none)."""
    if region in (None, "", WHOLE):
        return None
    if region not in REGIONS:
        raise ValueError(f"region must be {WHOLE!r} or one of {', '.join(REGIONS)}")
    return face_region_mask(from_pil(before_image(face)), region, fallback=True)


def _render(model: str, source: str, seed: float, truncation: float, inverted: dict | None,
            custom: dict | None, start: float, stop: float, conditions: list[str] | None,
            region: str | None, strengths: tuple, with_before: bool) -> tuple[str | None, str]:
    """(before or None, after) as PNG files. ``strengths`` follow
    :meth:`EditPipeline.sliders`, then the custom slider; ``region``: edit only inside it."""
    face = face_source(model, source, seed, truncation, inverted)
    pipe, w, delta, _, features = face
    mask = region_mask(face, region)
    specs = pipe.sliders()
    if len(strengths) != len(specs) + 1:
        raise ValueError(f"expected {len(specs) + 1} slider values, got {len(strengths)}")
    values = {spec.key: _strength(v) for spec, v in zip(specs, strengths)}
    custom_value = _strength(strengths[-1])
    direction = (custom or {}).get("direction")
    if direction is not None and custom.get("model") != model:
        direction = None  # made for another model: the slider would not fit this one
    if custom_value and direction is None:
        raise ValueError("the Custom slider needs a custom direction: compute one from your "
                         "photos first (Custom direction accordion), or set it to 0")
    if direction is not None:
        values["custom/" + direction.names[0]] = custom_value
    layers = layer_range(pipe.G, start, stop)
    for note in pipe.ignored_conditions(values, conditions or []):
        gr.Warning(note)
    before = png_file(before_image(face)) if with_before else None
    with RENDERS.slot(INTERACTIVE):
        after = pipe.render(w, values, layers=(layers.start, layers.stop),
                            conditions=conditions or [], custom=direction, delta=delta,
                            features=features, mask=mask)
    return before, png_file(after)


@friendly_errors
def edit(model: str, source: str, seed: float, truncation: float, inverted: dict | None,
         custom: dict | None, start: float, stop: float, conditions: list[str] | None,
         region: str | None, *strengths: float,
         progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str, str]:
    """(before, after) at 256px. For a generator without shipped directions, the first use
    of a set computes it (labelling faces for InterFaceGAN/StyleSpace) with a progress bar."""
    return _render(model, source, seed, truncation, inverted, custom, start, stop, conditions,
                   region, strengths, with_before=True)


def _strength(value: Any) -> float:
    """A slider value (None means 0); range checks are the pipeline's."""
    return 0.0 if value is None else float(value)


@friendly_errors
def slider_edit(model: str, source: str, seed: float, truncation: float,
                inverted: dict | None, custom: dict | None, start: float, stop: float,
                conditions: list[str] | None, region: str | None, *strengths: float,
                progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:
    """What releasing a slider does: only the "after" image is rendered and sent (the
    "before" face has not changed)."""
    return _render(model, source, seed, truncation, inverted, custom, start, stop, conditions,
                   region, strengths, with_before=False)[1]


@friendly_errors
def custom_direction(model: str, with_files: list[Any] | None, without_files: list[Any] | None,
                     name: str, steps: float, request: gr.Request = None,
                     progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:
    """Invert both sets of photos and average their W difference into a custom direction;
    returns (session value, note, the Custom slider shown under the direction's name)."""
    from stylelab.pipelines.checks import check_steps

    sets = [[upload_path(f) for f in files or []] for files in (with_files, without_files)]
    if max(len(s) for s in sets) > LIMITS.max_photos:
        raise ValueError(f"at most {LIMITS.max_photos} photos per set on this server")
    label = (name or "custom").strip()[:40] or "custom"
    session = getattr(request, "session_hash", None)
    flag = CANCEL.start(session)
    try:
        direction = HUB.edit(model).direction_from_photos(
            sets[0], sets[1], name=label, steps=check_steps(steps, LIMITS.max_steps),
            stop=flag.is_set)
    finally:
        CANCEL.finish(session, flag)
    skipped = direction.metadata.get("skipped", [])
    note = (f"Custom direction **{label}** from {direction.metadata['positives']} + "
            f"{direction.metadata['negatives']} photos. Move the *{label}* slider.")
    if skipped:
        note += " Skipped: " + "; ".join(skipped)
    slider = gr.update(visible=True, label=f"Custom: {label}", value=0.0)
    return {"direction": direction, "model": model}, note, slider


def select_model(model: str) -> tuple:
    """Fit the layer range and truncation to a newly picked model (nothing when it cannot
    load: the Generate tab reports that and puts the picker back)."""
    try:
        _, facts = load_model(model)
    except Exception:  # noqa: BLE001 - reported once, by the Generate tab
        return (gr.skip(),) * 3
    last = facts.num_ws - 1
    return (gr.update(maximum=last, value=0), gr.update(maximum=last, value=last),
            gr.update(value=facts.truncation))


def _slider(spec: SliderSpec, **kwargs: Any) -> gr.Slider:
    return CheckedSlider(-spec.limit, spec.limit, 0.0, step=spec.limit / 50, label=spec.label,
                         elem_id="edit-" + spec.key.replace("/", "-").replace(" ", "-")
                         .replace("(", "").replace(")", "").replace(":", "-").replace(".", "-"),
                         **kwargs)


def build_tab(default_model: str, model: gr.Dropdown, inverted: gr.State) -> None:
    """Add the Edit tab; ``inverted`` is the Invert tab's session state."""
    _, facts = load_model(default_model)
    pipe = HUB.edit(default_model)
    specs = pipe.sliders()
    last = facts.num_ws - 1
    with gr.Tab("Edit", id="edit"):
        # inside the Tab: a State directly under gr.Tabs corrupts the tab bar
        custom = gr.State(None, time_to_live=LIMITS.session_ttl_s)
        gr.Markdown("Move a slider and release it: the face is redrawn at 256px. Strengths are "
                    "in standard deviations of the latent along each direction.")
        with gr.Row():
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Face", elem_id="edit-source")
            seed = gr.Number(0, label="Seed", minimum=0, elem_id="edit-seed")
            truncation = CheckedSlider(0, 2, facts.truncation, step=0.05, label="Truncation ψ",
                                       elem_id="edit-truncation")
            show = gr.Button("Show face", variant="primary", elem_id="edit-show")
        status = gr.Markdown(elem_id="edit-status")
        with gr.Row():
            before = gr.Image(label="Before", format="png", elem_id="edit-before")
            after = gr.Image(label="After", format="png", elem_id="edit-after")
        with gr.Row():
            start = CheckedSlider(0, last, 0, step=1, label="W+ layers from", elem_id="edit-start")
            stop = CheckedSlider(0, last, last, step=1, label="W+ layers to", elem_id="edit-stop")
            conditions = gr.CheckboxGroup(pipe.attributes(), label="Keep unchanged (conditional)",
                                          elem_id="edit-conditions")
            region = gr.Dropdown([WHOLE, *REGIONS], value=WHOLE, label="Edit only inside",
                                 elem_id="edit-region")
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
                steps = CheckedSlider(10, min(500, LIMITS.max_steps), 100, step=10,
                                      label="Inversion steps per photo")
            with gr.Row():
                compute = gr.Button("Compute direction", elem_id="edit-custom-btn")
                cancel = gr.Button("Cancel", variant="stop", elem_id="edit-custom-cancel")
            note = gr.Markdown(elem_id="edit-custom-note")
        custom_slider = _slider(SliderSpec("custom/custom", "Custom", CUSTOM_LIMIT), visible=False)
        reset = gr.Button("Reset", elem_id="edit-reset")
        # spaces.flow imports this module, so it is imported here rather than at the top
        from .flow import build_accordion

        build_accordion(model, source, seed, truncation, inverted, region, after, status)
        _wire(locals())  # inside the Tab: the API's invisible buttons must not sit in gr.Tabs


def _wire(c: dict) -> None:
    """Connect the Edit tab's events (``c``: build_tab's components)."""
    sliders, custom_slider = c["sliders"], c["custom_slider"]
    inputs = [c["model"], c["source"], c["seed"], c["truncation"], c["inverted"], c["custom"],
              c["start"], c["stop"], c["conditions"], c["region"], *sliders, custom_slider]
    outputs, status = [c["before"], c["after"]], c["status"]
    connect(c["show"].click, edit, inputs, outputs, status, "edit", **RENDER)
    for i, slider in enumerate([*sliders, custom_slider, c["start"], c["stop"]]):
        connect(slider.release, slider_edit, inputs, [c["after"]], status,
                "slider" if i == 0 else None, show_progress="minimal", **RENDER)
    connect(c["truncation"].release, edit, inputs, outputs, status, **RENDER)
    for control in (c["source"], c["conditions"], c["region"]):
        connect(control.change, edit, inputs, outputs, status, **RENDER)
    connect(c["seed"].submit, edit, inputs, outputs, status, **RENDER)
    last = c["last"]

    def zeros() -> list:
        return [0.0] * (len(sliders) + 1) + [0, last, []]

    event = c["reset"].click(zeros, None, [*sliders, custom_slider, c["start"], c["stop"],
                                           c["conditions"]], api_visibility="private")
    connect(event.then, edit, inputs, outputs, status, **RENDER)
    c["model"].change(select_model, c["model"], [c["start"], c["stop"], c["truncation"]],
                      api_visibility="private")
    connect(c["compute"].click, custom_direction, [c["model"], c["with_files"],
                                                   c["without_files"], c["name"], c["steps"]],
            [c["custom"], c["note"], custom_slider], status, "custom_direction", **JOBS)
    c["cancel"].click(cancel, None, c["note"], api_visibility="private", queue=False)
