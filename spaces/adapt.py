"""The Adapt tab: fine-tune a copy of the generator into a new domain from one reference image
(DiFa, JoJoGAN-style) or a pair of texts (StyleGAN-NADA), watch previews while it trains,
compare parent and child on the same seeds, apply the child to the current face, and save
it, after which it is a model like any other (the model picker lists it).

The trained weight change lives in :data:`~.state.HEAVY` (the session keeps a token); a saved
child lives in the stylelab cache (``adapted/<name>``)."""

from __future__ import annotations

import dataclasses
import queue
import re
import threading
from typing import Any

import gradio as gr
import torch
from PIL import Image

from stylelab.adaptation import list_filters
from stylelab.adaptation.adapted import adapted_root
from stylelab.adaptation.filters import apply_filter
from stylelab.clip import available_clip_models, preferred_clip
from stylelab.images import to_pil
from stylelab.pipelines.adapt import AdaptPipeline
from stylelab.pipelines.checks import check_steps

from .common import (
    HUB,
    CheckedSlider,
    connect,
    error_message,
    friendly_errors,
    load_model,
    png_file,
)
from .edit import SOURCES, face_source
from .invert import upload_path
from .limits import JOBS, LIMITS, RENDER
from .state import CANCEL, HEAVY

METHODS = {"DiFa (reference image)": "difa", "JoJoGAN-style (reference face)": "jojo",
           "StyleGAN-NADA (texts)": "nada"}
EXAMPLE_SEED = 1000
COMPARE_SEEDS = list(range(8))
PREVIEW_SEEDS = [0, 1, 2, 3]
THUMB = 128
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEEP = (gr.skip(),) * 4  # a failed Adapt keeps the earlier preview, grid, state and summary


def example_reference(model: str, filter_name: str) -> Image.Image:
    """An offline example: the face of seed 1000 through a known filter (no artwork needed)."""
    if filter_name not in list_filters():
        raise ValueError(f"example must be one of {', '.join(list_filters())}")
    pipe, facts = load_model(model)
    w = pipe.G.sample_w(1, seed=EXAMPLE_SEED, truncation_psi=facts.truncation)
    with torch.no_grad():
        image = pipe.G.synthesis(w, size=facts.default_size).clamp(-1, 1)
    return to_pil(apply_filter(filter_name, image))[0]


def strip(images: list[Image.Image]) -> Image.Image:
    """Images side by side at THUMB px."""
    out = Image.new("RGB", (THUMB * len(images), THUMB))
    for i, image in enumerate(images):
        out.paste(image.resize((THUMB, THUMB), Image.LANCZOS), (i * THUMB, 0))
    return out


def grid(parent: list[Image.Image], child: list[Image.Image]) -> Image.Image:
    top, bottom = strip(parent), strip(child)
    out = Image.new("RGB", (top.width, 2 * THUMB))
    out.paste(top, (0, 0))
    out.paste(bottom, (0, THUMB))
    return out


def _reference(model: str, method: str, upload: Any, example: str | None):
    if method == "nada":
        return None
    if upload not in (None, ""):
        return upload_path(upload)
    if example:
        return example_reference(model, example)
    raise ValueError("upload a reference image, or pick an example reference")


def _pipeline(model: str, clip: str | None) -> AdaptPipeline:
    """Only CLIP names the hub offers; each loads once per process."""
    return AdaptPipeline(HUB.generator(model), clip=HUB.clip(clip) if clip else None)


def _check(method_label: str, steps: float) -> tuple[str, int]:
    if method_label not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method_label!r}")
    return METHODS[method_label], check_steps(steps, LIMITS.max_adapt_steps)


def _prepare(model: str, method_label: str, upload: Any, example: str | None,
             clip: str | None, steps: float) -> tuple[str, int, AdaptPipeline, Any]:
    """(method, steps, pipeline, reference) checked, before any training starts."""
    method, n_steps = _check(method_label, steps)
    pipe = _pipeline(model, clip if method == "nada" else None)
    return method, n_steps, pipe, _reference(model, method, upload, example)


def _colour(method: str, preserve_colour: bool) -> bool:
    """The checkbox belongs to JoJoGAN-style; the other methods ignore it (it stays ticked
    while the user tries them)."""
    return bool(preserve_colour) and method == "jojo"


def _finish(model: str, pipe: AdaptPipeline, result) -> tuple[str, dict, str]:
    parent, child = pipe.compare(result.generator, COMPARE_SEEDS)
    # the session keeps a token; the store keeps the weight change only (a few MB), not the
    # child's full copy of the generator
    slim = dataclasses.replace(result, generator=None)
    state = {"model": model, "token": HEAVY.put(slim), "name": result.name}
    info = (f"{result.method}: {result.steps} steps in {result.seconds:.0f} s; "
            f"final loss {result.history[-1]['total']:.3f}" if result.history else "no steps run")
    if result.config.get("reference_note"):
        info += f"; reference: {result.config['reference_note']}"
    return png_file(grid(parent, child)), state, info


@friendly_errors
def run_adapt(model: str, method_label: str, upload: Any, example: str | None,
              source_text: str, target_text: str, clip: str | None, steps: float,
              preserve_colour: bool = False, request: gr.Request = None,
              progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str, dict, str]:
    """Adapt without previews (the API): (parent/child grid PNG, session state, summary)."""
    method, steps, pipe, reference = _prepare(model, method_label, upload, example, clip, steps)
    session = getattr(request, "session_hash", None)
    flag = CANCEL.start(session)
    try:
        result = pipe.adapt(method, reference=reference, source_text=source_text,
                            target_text=target_text, steps=steps, stop=flag.is_set,
                            preserve_colour=_colour(method, preserve_colour))
    finally:
        CANCEL.finish(session, flag)
    return _finish(model, pipe, result)


def run_adapt_live(model: str, method_label: str, upload: Any, example: str | None,
                   source_text: str, target_text: str, clip: str | None, steps: float,
                   preserve_colour: bool = False, request: gr.Request = None,
                   progress: gr.Progress = gr.Progress(track_tqdm=True)):
    """The browser's Adapt: yields (preview, grid, state, summary, status) as it trains;
    a user error becomes the status line (earlier results kept)."""
    updates: queue.Queue = queue.Queue()
    session = getattr(request, "session_hash", None)
    try:
        method, n_steps, pipe, reference = _prepare(model, method_label, upload, example, clip,
                                                    steps)
        preview_w = pipe.G.sample_w(len(PREVIEW_SEEDS), seed=0, truncation_psi=0.7)
    except Exception as exc:  # noqa: BLE001 - shown as the status line
        yield *KEEP, f"**Could not do that:** {error_message(exc)}"
        return

    def preview(step: int, child, terms: dict) -> None:
        images = to_pil(child.synthesis(preview_w, size=pipe.size))
        updates.put(("preview", step, strip(images)))

    flag = CANCEL.start(session)

    def work() -> None:
        try:
            result = pipe.adapt(method, reference=reference, source_text=source_text,
                                target_text=target_text, steps=n_steps, stop=flag.is_set,
                                preview=preview, preview_every=max(1, n_steps // 10),
                                preserve_colour=_colour(method, preserve_colour))
            updates.put(("done", result))
        except Exception as exc:  # noqa: BLE001 - reported in the status line
            updates.put(("error", exc))
        finally:
            CANCEL.finish(session, flag)

    threading.Thread(target=work, daemon=True).start()
    try:
        yield from _relay(updates, model, pipe, n_steps, flag)
    finally:  # the page went away (Gradio closed this generator): stop the training too
        flag.set()


def _relay(updates: queue.Queue, model: str, pipe: AdaptPipeline, n_steps: int,
           flag: threading.Event):
    """Yield the browser's updates from the training thread until it ends."""
    while True:
        kind, *rest = updates.get()
        if kind == "preview":
            step, image = rest
            yield png_file(image), gr.skip(), gr.skip(), gr.skip(), f"step {step} / {n_steps}"
        elif kind == "error":
            exc = rest[0]
            yield *KEEP, f"**Could not do that:** {error_message(exc)}"
            return
        else:
            image, state, info = _finish(model, pipe, rest[0])
            note = " (cancelled: what it had)" if flag.is_set() else ""
            yield gr.skip(), image, state, info + note, ""
            return


def _adapted(state: dict | None, model: str):
    if not state or state.get("model") != model:
        raise ValueError("adapt the model first (or switch back to the model you adapted)")
    result = HEAVY.get(state.get("token"))
    if result is None:
        raise ValueError(f"the adapted weights have expired (kept {LIMITS.session_ttl_s // 60:g}"
                         " min): adapt again, or save a result to keep it")
    return result


@friendly_errors
def apply_to_face(model: str, state: dict | None, source: str, seed: float, truncation: float,
                  inverted: dict | None) -> tuple[str, str, str]:
    """(before, after, note): the current face from the parent and from the child."""
    result = _adapted(state, model)
    face = face_source(model, source, seed, truncation, inverted)
    before = face.pipe.render(face.w, delta=face.delta, features=face.features)
    after = face.pipe.render(face.w, delta=result.delta)
    note = ("the inverted face's PTI weights and CLCAE features are not carried into the "
            "adapted model (its W+ code is)" if face.delta or face.features else "")
    return png_file(before), png_file(after), note


MIX_SHAPES = {"parent (photo domain)": "parent", "adapted model": "child"}


def _pair(model: str, state: dict | None):
    """(parent, child) to mix: this session's adapted result for ``model``, else ``model``
    itself when it is a saved adapted model (with its parent)."""
    from stylelab.adaptation.adapted import child_from

    G = HUB.generator(model)
    if state and state.get("model") == model:
        result = _adapted(state, model)
        return G, child_from(G, result.delta, result.name or "session", result.parent_digest)
    parent = getattr(G, "parent_name", None)
    if parent:
        return HUB.generator(parent), G
    raise ValueError("adapt the model first, or pick a saved adapted model in the Model menu "
                     "(it is mixed with its parent)")


@friendly_errors
def mix_domains(model: str, state: dict | None, source: str, seed: float, truncation: float,
                inverted: dict | None, shape_label: str, cut: float, softness: float) -> str:
    """The current face with the shape (coarse layers) of one model and the appearance (fine
    layers) of the other: a PNG file."""
    if shape_label not in MIX_SHAPES:
        raise ValueError(f"shape from must be one of {list(MIX_SHAPES)}, got {shape_label!r}")
    for label, value in (("cut", cut), ("softness", softness)):
        if not isinstance(value, (int, float)) or value != value:
            raise ValueError(f"{label} must be a number, got {value!r}")
    parent, child = _pair(model, state)
    face = face_source(model, source, seed, truncation, inverted)
    pipe = AdaptPipeline(parent)
    return png_file(pipe.mix(child, face.w, shape_from=MIX_SHAPES[shape_label],
                             cut=float(cut), softness=float(softness)))


@friendly_errors
def save_adapted(model: str, state: dict | None, name: str) -> tuple[str, Any]:
    """Save into the cache as ``adapted:<name>``; returns (message, model picker update)."""
    result = _adapted(state, model)
    name = (name or "").strip()
    if not NAME.match(name):
        raise ValueError("name: 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                         "or digit")
    folder = adapted_root() / name
    if folder.exists():
        raise ValueError(f"an adapted model named {name!r} exists; choose another name")
    result.save(folder)
    choices = HUB.allowed_models()
    return (f"Saved as `adapted:{name}`: pick it in the Model menu (all tabs use it).",
            gr.update(choices=choices))


def cancel(request: gr.Request = None) -> str:
    if CANCEL.cancel(getattr(request, "session_hash", None)):
        return "Cancelling…"
    return "Nothing is running."


def build_tab(default_model: str, model: gr.Dropdown, inverted: gr.State) -> None:
    """Add the Adapt tab; ``inverted`` is the Invert tab's session state."""
    _, facts = load_model(default_model)
    clips = available_clip_models()
    preferred = preferred_clip(clips)
    with gr.Tab("Adapt", id="adapt"):
        gr.Markdown("Turn the generator into a new domain. **DiFa** and **JoJoGAN-style** "
                    "learn from one reference image (a face is aligned first; DiFa also takes "
                    "a non-face style image), **StyleGAN-NADA** from a source and a target "
                    "text. Every seed of the adapted model is the same face in the new style. "
                    f"Steps up to {LIMITS.max_adapt_steps}; about 1-2 s each on a 2-core CPU.")
        adapted = gr.State(None, time_to_live=LIMITS.session_ttl_s)
        with gr.Row():
            method = gr.Radio(list(METHODS), value=list(METHODS)[0], label="Method",
                              elem_id="adapt-method")
            steps = CheckedSlider(1, LIMITS.max_adapt_steps, min(100, LIMITS.max_adapt_steps),
                                  step=1, label="Steps", elem_id="adapt-steps")
            colour = gr.Checkbox(False, label="Preserve colour (JoJoGAN-style: each face "
                                 "keeps its own colours)", elem_id="adapt-preserve-colour")
        with gr.Row():
            upload = gr.File(label="Reference image", file_types=["image"],
                             elem_id="adapt-reference")
            example = gr.Dropdown([None, *list_filters()], value="sketch",
                                  label=f"…or an example reference (seed {EXAMPLE_SEED} "
                                        "through a filter)", elem_id="adapt-example")
        with gr.Row():
            source_text = gr.Textbox("photo", label="Source text (NADA)",
                                     elem_id="adapt-source-text")
            target_text = gr.Textbox("an old face", label="Target text (NADA)",
                                     elem_id="adapt-target-text")
            clip = gr.Dropdown(clips, value=preferred if preferred in clips else None,
                               label="Text-image model (NADA)", elem_id="adapt-clip")
        with gr.Row():
            run = gr.Button("Adapt", variant="primary", elem_id="adapt-run")
            stop = gr.Button("Cancel", variant="stop", elem_id="adapt-cancel")
        status = gr.Markdown(elem_id="adapt-status")
        preview = gr.Image(label="Preview (seeds 0-3 while training)", format="png",
                           elem_id="adapt-preview")
        result = gr.Image(label="Seeds 0-7: parent (top) and adapted (bottom)", format="png",
                          elem_id="adapt-grid")
        summary = gr.Markdown(elem_id="adapt-summary")
        gr.Markdown("### Apply to the current face")
        with gr.Row():
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Face",
                              elem_id="adapt-source")
            seed = gr.Number(0, label="Seed", minimum=0, elem_id="adapt-seed")
            truncation = CheckedSlider(0, 2, facts.truncation, step=0.05, label="Truncation ψ",
                                       elem_id="adapt-truncation")
            apply = gr.Button("Apply", elem_id="adapt-apply")
        with gr.Row():
            before = gr.Image(label="Parent", format="png", elem_id="adapt-before")
            after = gr.Image(label="Adapted", format="png", elem_id="adapt-after")
        apply_note = gr.Markdown(elem_id="adapt-apply-note")
        apply_status = gr.Markdown(elem_id="adapt-apply-status")
        gr.Markdown("### Mix domains: shape from one model, appearance from the other\n"
                    "W+ entries below the cut (coarse: shape, pose) come from one model, the "
                    "rest (fine: colour, texture) from the other. Works on this session's "
                    "adapted model, or on a saved one picked in the Model menu.")
        with gr.Row():
            shape = gr.Radio(list(MIX_SHAPES), value=list(MIX_SHAPES)[0], label="Shape from",
                             elem_id="adapt-mix-shape")
            cut = CheckedSlider(0, facts.num_ws, min(7, facts.num_ws), step=1,
                                label="Cut (W+ entry)", elem_id="adapt-mix-cut")
            softness = CheckedSlider(0, 4, 0, step=0.5, label="Softness",
                                     elem_id="adapt-mix-softness")
            mix = gr.Button("Mix", elem_id="adapt-mix")
        mixed = gr.Image(label="Hybrid", format="png", elem_id="adapt-mixed")
        mix_status = gr.Markdown(elem_id="adapt-mix-status")
        with gr.Row():
            name = gr.Textbox(label="Save as (name)", elem_id="adapt-name")
            save = gr.Button("Save", elem_id="adapt-save")
        saved = gr.Markdown(elem_id="adapt-saved")
        save_status = gr.Markdown(elem_id="adapt-save-status")
        inputs = [model, method, upload, example, source_text, target_text, clip, steps,
                  colour]
        hidden = gr.Button(visible=False, elem_id="api-adapt")
        hidden.click(run_adapt, inputs, [result, adapted, summary], api_name="adapt", **JOBS)
        run.click(run_adapt_live, inputs, [preview, result, adapted, summary, status],
                  api_visibility="private", **JOBS)
        stop.click(cancel, None, status, api_name="cancel_adapt", queue=False)
        apply_inputs = [model, adapted, source, seed, truncation, inverted]
        connect(apply.click, apply_to_face, apply_inputs, [before, after, apply_note],
                apply_status, "adapt_apply", **RENDER)
        connect(mix.click, mix_domains, [*apply_inputs, shape, cut, softness], [mixed],
                mix_status, "adapt_mix", **RENDER)
        connect(save.click, save_adapted, [model, adapted, name], [saved, model], save_status,
                "adapt_save")
