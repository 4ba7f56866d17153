"""The Text edit tab: StyleCLIP global directions, latent optimization and latent mappers
on the current face (a seed, or the face inverted in the Invert tab)."""

from __future__ import annotations

import gradio as gr
from PIL import Image

from stylelab.clip import (
    DEFAULT_CLIP,
    FACES_MINILM,
    available_clip_models,
    preferred_clip,
)
from stylelab.faces.regions import REGIONS
from stylelab.images import to_pil
from stylelab.pipelines.textedit import (
    ALPHA_LIMIT,
    MAX_CHANNELS,
    METHODS,
    TextEditSettings,
)

from .common import HUB, CheckedSlider, connect, friendly_errors, load_model, png_file
from .edit import SOURCES, WHOLE, before_image, face_source, region_mask
from .invert import cancel
from .limits import JOBS, LIMITS, RENDER
from .state import CANCEL

NO_MODEL = ("No text-image model is installed, so text edits are off: reinstall stylelab (it "
            "bundles stylelab/faces-minilm) or cache a CLIP model (`stylelab clip-models`).")
METHOD_LABELS = {"Global direction (instant after a one-off preprocessing)": "global",
                 "Latent optimization": "optimize", "Latent mapper (trains per prompt)": "mapper"}


@friendly_errors
def text_edit(model: str, clip: str, source: str, seed: float, truncation: float,
              inverted: dict | None, method: str, target: str, neutral: str, alpha: float,
              beta: float, steps: float, space: str, region: str | None = None,
              max_channels: float = MAX_CHANNELS, request: gr.Request = None,
              progress: gr.Progress = gr.Progress(track_tqdm=True)
              ) -> tuple[Image.Image, Image.Image, str]:
    """(before, after, notes); ``region``: edit only inside it (the Edit tab's regions).
    Errors (no CLIP model, bad prompt) become gr.Error."""
    key = METHOD_LABELS.get(method, method)
    if key not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    settings = TextEditSettings(key, alpha, beta, steps, space or "w+", max_channels)
    settings.check(max_steps=LIMITS.max_steps)
    face = face_source(model, source, seed, truncation, inverted)
    mask = region_mask(face, region)
    pipe = HUB.text(model, clip or preferred_clip())
    session = getattr(request, "session_hash", None)
    flag = CANCEL.start(session)
    try:
        result = pipe.run(key, face.w, target or "", neutral or "", alpha=settings.alpha,
                          beta=settings.beta, steps=settings.steps, space=settings.space,
                          max_channels=settings.max_channels, delta=face.delta,
                          features=face.features, stop=flag.is_set,
                          mask=mask)
    finally:
        CANCEL.finish(session, flag)
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items())
    lines = [f"**{result.method}**: {metrics}"] + [f"- {n}" for n in result.notes]
    if result.config.get("top_channels"):
        lines.append("- top channels: " + ", ".join(f"{n} ({v:+.2f})"
                                                   for n, v in result.config["top_channels"]))
    return to_pil(result.before)[0], to_pil(result.image)[0], "\n".join(lines)


def clip_note(clip: str | None) -> str:
    """What the chosen text-image model understands (the bundled one's vocabulary)."""
    if clip == FACES_MINILM:
        from stylelab.clip.faces_minilm import VOCABULARY_NOTE

        return (f"*{FACES_MINILM}* is a small face model trained here: {VOCABULARY_NOTE}. "
                "Words it does not know are listed with the result.")
    return ""


@friendly_errors
def preview(model: str, source: str, seed: float, truncation: float, inverted: dict | None,
            progress: gr.Progress = gr.Progress(track_tqdm=True)) -> str:
    """The current face (the "Before" image) as a PNG file, before any edit."""
    face = face_source(model, source, seed, truncation, inverted)
    return png_file(before_image(face))


def build_tab(default_model: str, model: gr.Dropdown, inverted: gr.State) -> None:
    """Add the Text edit tab; ``inverted`` is the Invert tab's session state."""
    _, facts = load_model(default_model)
    choices = available_clip_models()
    preferred = preferred_clip(choices)
    default_clip = preferred if preferred in choices else (choices or [DEFAULT_CLIP])[0]
    with gr.Tab("Text edit", id="textedit") as tab:
        gr.Markdown("Describe the edit. *Global direction* needs the target and a neutral "
                    "prompt (what the face is now); its first use per CLIP model computes "
                    "channel relevance once and caches it (the bundled face model's comes "
                    "with stylelab).")
        if not choices:
            gr.Markdown(NO_MODEL, elem_id="text-clip-status")
        with gr.Row():
            clip = gr.Dropdown(choices or [DEFAULT_CLIP], value=default_clip,
                               label="Text-image model", elem_id="text-clip")
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Face", elem_id="text-source")
            seed = gr.Number(0, label="Seed", minimum=0, elem_id="text-seed")
            truncation = CheckedSlider(0, 2, facts.truncation, step=0.05, label="Truncation ψ",
                                       elem_id="text-truncation")
        note = gr.Markdown(clip_note(default_clip), elem_id="text-clip-note")
        clip.change(clip_note, clip, note, api_visibility="private")
        with gr.Row():
            target = gr.Textbox("a smiling face", label="Target prompt", elem_id="text-target")
            neutral = gr.Textbox("a face", label="Neutral prompt (global direction)",
                                 elem_id="text-neutral")
        method = gr.Radio(list(METHOD_LABELS), value=next(iter(METHOD_LABELS)), label="Method",
                          elem_id="text-method")
        with gr.Row():
            alpha = CheckedSlider(-ALPHA_LIMIT, ALPHA_LIMIT, 4.0, step=0.5, label="α (strength)",
                                  elem_id="text-alpha")
            beta = CheckedSlider(0.0, 0.5, 0.1, step=0.01, label="β (disentanglement)",
                                 elem_id="text-beta")
            max_channels = gr.Number(MAX_CHANNELS, label="Max channels (global; 0: β alone)",
                                     minimum=0, precision=0, elem_id="text-max-channels")
            steps = CheckedSlider(1, LIMITS.max_steps, min(40, LIMITS.max_steps), step=1,
                                  label="Steps (optimization / mapper training)",
                                  elem_id="text-steps")
            space = gr.Radio(["w+", "s"], value="w+", label="Optimization space",
                             elem_id="text-space")
            region = gr.Dropdown([WHOLE, *REGIONS], value=WHOLE, label="Edit only inside",
                                 elem_id="text-region")
        with gr.Row():
            run = gr.Button("Edit", variant="primary", elem_id="text-run",
                            interactive=bool(choices))
            stop = gr.Button("Cancel", variant="stop", elem_id="text-cancel")
        with gr.Row():
            before = gr.Image(label="Before", format="png", elem_id="text-before")
            after = gr.Image(label="After", format="png", elem_id="text-after")
        notes = gr.Markdown(elem_id="text-notes")
        status = gr.Markdown(elem_id="text-status")
        inputs = [model, clip, source, seed, truncation, inverted, method, target, neutral,
                  alpha, beta, steps, space, region, max_channels]
        connect(run.click, text_edit, inputs, [before, after, notes], status, "text_edit",
                **JOBS)
        face = [model, source, seed, truncation, inverted]
        for event in (tab.select, source.change, truncation.release, model.change, seed.blur):
            connect(event, preview, face, [before], status, **RENDER)
        connect(seed.submit, preview, face, [before], status, "text_preview", **RENDER)
        stop.click(cancel, None, status, api_visibility="private", queue=False)
