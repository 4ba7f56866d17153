"""The hub's "Invert" tab: photo -> aligned face -> latent (W, W+ or PTI) -> paste-back.

The upload is a ``gr.File`` (not ``gr.Image``) so that every file reaches stylelab's
own loader, which answers corrupt, non-image and oversized files with a clear message.
The result (latent and, for PTI, the generator weight delta) is kept in session
state for later tabs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gradio as gr
from PIL import Image, ImageDraw

from stylelab.pipelines.invert import InversionPipeline, example_photos

from .common import CheckedSlider, friendly_errors

METHODS = {"W": "w", "W+": "w+", "PTI (W pivot + tuning)": "pti"}


@lru_cache(maxsize=4)
def _pipeline(model: str) -> InversionPipeline:
    """One inversion pipeline per model; the generator weights are shared with Generate."""
    return InversionPipeline(model)


def _path(upload: Any) -> str:
    if upload is None:
        raise ValueError("upload a photo first (PNG, JPEG or WebP with one visible face)")
    return upload if isinstance(upload, str) else getattr(upload, "name", str(upload))


def draw_landmarks(image: Image.Image, landmarks) -> Image.Image:
    """A copy of ``image`` with the 68 landmarks drawn as small dots."""
    out = image.copy()
    draw = ImageDraw.Draw(out)
    r = max(1.0, image.width / 256)
    for x, y in landmarks:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(0, 255, 120))
    return out


@friendly_errors
def align(model: str, upload: Any) -> tuple[Image.Image, str]:
    """The aligned crop with landmarks, and a note on how many faces were found."""
    _, aligned = _pipeline(model).align(_path(upload))
    note = (f"{aligned.n_faces} faces found: using the largest." if aligned.n_faces > 1
            else "One face found.")
    return draw_landmarks(aligned.image, aligned.landmarks), note


@friendly_errors
def run_inversion(model: str, upload: Any, method: str, steps: float,
                  progress: gr.Progress = gr.Progress(track_tqdm=True)):
    """Invert the photo; returns (aligned+landmarks, reconstruction, metrics, paste-back, state)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    outcome = _pipeline(model).invert(_path(upload), METHODS[method], int(steps))
    result = outcome.result
    metrics = {"PSNR (dB)": round(result.metrics["psnr"], 2),
               "MS-SSIM": round(result.metrics["ms_ssim"], 4),
               "identity cosine (dlib)": round(result.metrics.get("identity", float("nan")), 4),
               "seconds": round(result.seconds, 1), "steps run": result.steps_run,
               "faces found": outcome.aligned.n_faces}
    state = {"model": model, "space": result.space, "latent": result.latent,
             "generator_delta": result.generator_delta, "method": result.method}
    return (draw_landmarks(outcome.aligned.image, outcome.aligned.landmarks),
            outcome.reconstruction, metrics, outcome.pasted, state)


def build_tab(model: gr.Dropdown) -> gr.State:
    """Add the Invert tab; returns the session state holding the inverted latent."""
    state = gr.State(None)
    with gr.Tab("Invert", id="invert"):
        gr.Markdown("Upload a portrait: the largest face is aligned like FFHQ, inverted into "
                    "the generator, and the reconstruction is pasted back into the photo.")
        with gr.Row():
            photo = gr.File(label="Photo", file_types=["image"], elem_id="invert-photo")
            aligned = gr.Image(label="Aligned face + landmarks", format="png",
                               elem_id="invert-aligned")
            note = gr.Markdown(elem_id="invert-note")
        with gr.Row():
            method = gr.Radio(list(METHODS), value="W+", label="Method", elem_id="invert-method")
            steps = CheckedSlider(1, 1000, 100, step=1, label="Steps", elem_id="invert-steps")
        button = gr.Button("Invert", variant="primary", elem_id="invert-btn")
        with gr.Row():
            recon = gr.Image(label="Reconstruction", format="png", elem_id="invert-recon")
            pasted = gr.Image(label="Pasted back into the photo", format="png",
                              elem_id="invert-pasted")
        metrics = gr.JSON(label="Metrics", elem_id="invert-metrics")
        examples = [str(p) for p in example_photos()[:6]]
        if examples:
            gr.Examples(examples, inputs=photo, label="Examples (openpeople, MIT)")
    photo.change(align, [model, photo], [aligned, note], api_name="align")
    button.click(run_inversion, [model, photo, method, steps],
                 [aligned, recon, metrics, pasted, state], api_name="invert")
    return state
