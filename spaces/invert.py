"""The hub's "Invert" tab: photo -> aligned face -> latent (W, W+ or PTI) -> paste-back.

The upload is a ``gr.File`` (not ``gr.Image``) so that every file reaches stylelab's
own loader, which answers corrupt, non-image and oversized files with a clear message.
The result (latent and, for PTI, a token for the generator weight delta) is kept in the
session's state for later tabs (see :mod:`.state`). A running inversion can be cancelled:
it stops at the next step and shows the best result so far.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, ImageDraw

from stylelab.pipelines.invert import example_photos

from .common import HUB, CheckedSlider, connect, friendly_errors
from .limits import JOBS, LIMITS, RENDER
from .state import CANCEL, inverted_state

METHODS = {"W": "w", "W+": "w+", "PTI (W pivot + tuning)": "pti", "Encoder (instant)": "encoder",
           "CLCAE (W+ and F)": "clcae", "Encoder + refine (W+ steps)": "encoder+w+",
           "PTI from the encoder": "encoder+pti"}
#: the optimisation's perceptual term (README "Perceptual term A/B": an EfficientNet judge
#: prefers VGG16's reconstructions on every set measured, at 2-4x the time per step)
PERCEPTUAL = {"MS-SSIM (fast; LPIPS when installed)": "auto",
              "VGG16 (sharper texture, 2-4x slower)": "vgg16"}
DEFAULT_PERCEPTUAL = next(iter(PERCEPTUAL))


def upload_path(upload: Any) -> str:
    """The server path of an uploaded file; ValueError when there is none."""
    if upload is None or upload == "":
        raise ValueError("upload a photo first (PNG, JPEG or WebP with one visible face)")
    if isinstance(upload, dict):  # API callers may send a FileData dict
        upload = upload.get("path") or upload.get("name")
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
def align(model: str, upload: Any) -> tuple[Image.Image | None, str]:
    """The aligned crop with landmarks, and a note on how many faces were found. Clearing
    the upload clears both, without an error."""
    if upload is None or upload == "":
        return None, ""
    _, aligned = HUB.inversion(model).align(upload_path(upload))
    note = (f"{aligned.n_faces} faces found: using the largest." if aligned.n_faces > 1
            else "One face found.")
    return draw_landmarks(aligned.image, aligned.landmarks), note


@friendly_errors
def run_inversion(model: str, upload: Any, method: str, steps: float,
                  perceptual: str = DEFAULT_PERCEPTUAL, request: gr.Request = None,
                  progress: gr.Progress = gr.Progress(track_tqdm=True)):
    """Invert the photo; returns (aligned+landmarks, reconstruction, metrics, paste-back,
    session state, note)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if perceptual not in PERCEPTUAL:
        raise ValueError(f"perceptual term must be one of {list(PERCEPTUAL)}, got {perceptual!r}")
    path = upload_path(upload)
    session = getattr(request, "session_hash", None)
    flag = CANCEL.start(session)
    try:
        outcome = HUB.inversion(model).invert(path, METHODS[method], _steps(steps),
                                              stop=flag.is_set,
                                              perceptual=PERCEPTUAL[perceptual])
    finally:
        CANCEL.finish(session, flag)
    result = outcome.result
    pivot_steps = sum(1 for h in result.history if h.get("phase", "pivot") == "pivot")
    metrics = {"PSNR (dB)": round(result.metrics["psnr"], 2),
               "MS-SSIM": round(result.metrics["ms_ssim"], 4),
               "identity cosine (dlib)": round(result.metrics.get("identity", float("nan")), 4),
               "seconds": round(result.seconds, 1), "faces found": outcome.aligned.n_faces}
    if result.method.endswith("pti"):
        metrics.update({"pivot steps run": pivot_steps,
                        "tuning steps run": result.steps_run - pivot_steps})
    else:
        metrics["steps run"] = result.steps_run
    note = "Cancelled: showing the best result so far." if flag.is_set() else "Done."
    return (draw_landmarks(outcome.aligned.image, outcome.aligned.landmarks),
            outcome.reconstruction, metrics, outcome.pasted, inverted_state(model, result), note)


def cancel(request: gr.Request = None) -> str:
    """Ask this session's running inversion to stop at its next step."""
    if CANCEL.cancel(getattr(request, "session_hash", None)):
        return "Cancelling…"
    return "Nothing is running."


def _steps(value: float) -> int:
    from stylelab.pipelines.checks import check_steps

    return check_steps(value, LIMITS.max_steps)


def example_label(path: Path) -> str:
    """A readable name for an openpeople example: its person folder, not the file name."""
    return path.parent.parent.name.replace("_", " ")


def build_tab(model: gr.Dropdown, state: gr.State) -> None:
    """Add the Invert tab; ``state`` is the session state that receives the inverted latent
    (created by the app outside ``gr.Tabs``)."""
    with gr.Tab("Invert", id="invert"):
        gr.Markdown("Upload a portrait: the largest face is aligned like FFHQ, inverted into "
                    "the generator, and the reconstruction is pasted back into the photo. "
                    f"Files up to {LIMITS.max_upload_mb} MB; PNG, JPEG, WebP, GIF, BMP or TIFF.")
        with gr.Row():
            photo = gr.File(label="Photo", file_types=["image"], elem_id="invert-photo")
            aligned = gr.Image(label="Aligned face + landmarks", format="png",
                               elem_id="invert-aligned")
            note = gr.Markdown(elem_id="invert-note")
        with gr.Row():
            method = gr.Radio(list(METHODS), value="W+", label="Method", elem_id="invert-method",
                              info="PTI runs the steps twice: W pivot, then generator tuning")
            steps = CheckedSlider(1, LIMITS.max_steps, min(100, LIMITS.max_steps), step=1,
                                  label="Steps (PTI: per phase; encoder + refine: W+ steps)",
                                  elem_id="invert-steps")
            perceptual = gr.Radio(list(PERCEPTUAL), value=DEFAULT_PERCEPTUAL,
                                  label="Perceptual term (optimisation methods)",
                                  elem_id="invert-perceptual")
        with gr.Row():
            button = gr.Button("Invert", variant="primary", elem_id="invert-btn")
            stop = gr.Button("Cancel", variant="stop", elem_id="invert-cancel")
        with gr.Row():
            recon = gr.Image(label="Reconstruction", format="png", elem_id="invert-recon")
            pasted = gr.Image(label="Pasted back into the photo", format="png",
                              elem_id="invert-pasted")
        status = gr.Markdown(elem_id="invert-status")
        metrics = gr.JSON(label="Metrics", elem_id="invert-metrics")
        examples = example_photos()[:6]
        if examples:
            gr.Examples([[str(p)] for p in examples], inputs=photo,
                        example_labels=[example_label(p) for p in examples],
                        label="Examples (openpeople, MIT)")
        # a photo that fails: its (previous photo's) alignment and note would be stale
        connect(photo.change, align, [model, photo], [aligned, note], status, "align",
                reset={0: None, 1: ""}, **RENDER)
        connect(button.click, run_inversion, [model, photo, method, steps, perceptual],
                [aligned, recon, metrics, pasted, state, note], status, "invert", **JOBS)
        stop.click(cancel, None, note, api_name="cancel_invert", queue=False)
