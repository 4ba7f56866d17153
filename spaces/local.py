"""The Local edit tab: transplant a region (mouth, eyes, nose, hair, ... or a painted mask)
of a reference face into the current face by blending feature maps at one layer; the
outside stays pixel-identical (:mod:`stylelab.local`)."""

from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np
import torch

from stylelab.faces.regions import REGIONS
from stylelab.images import to_pil
from stylelab.local import (
    LocalConfig,
    check_mask,
    face_region_mask,
    local_change,
    pick_layer,
    seam,
    transplant,
)
from stylelab.pipelines.edit import check_seed

from .common import CheckedSlider, connect, friendly_errors, load_model, png_file
from .edit import SOURCES, before_image, face_source
from .gate import BULK, RENDERS
from .limits import RENDER

PAINTED = "Painted mask (draw below)"
AUTO = "auto"


def layer_choices(model: str) -> list[str]:
    pipe, _ = load_model(model)
    return [AUTO] + [lay.name for lay in pipe.G.feature_layers]


def painted_mask(editor: Any) -> torch.Tensor:
    """The painted strokes of a ``gr.ImageEditor`` value (their alpha) as a mask."""
    layers = (editor or {}).get("layers") or [] if isinstance(editor, dict) else []
    arrays = [np.asarray(layer) for layer in layers if layer is not None]
    arrays = [a for a in arrays if a.ndim == 3 and a.shape[-1] == 4]
    if not arrays:
        raise ValueError("paint the region first: draw over the face in the mask editor")
    alpha = np.max(np.stack([a[..., 3] for a in arrays]), 0).astype(np.float32) / 255.0
    return check_mask(torch.from_numpy(alpha))


@friendly_errors
def local_edit(model: str, source: str, seed: float, truncation: float, inverted: dict | None,
               reference_seed: float, region: str, editor: Any, layer: str,
               keep_outside: bool, progress: gr.Progress = gr.Progress(track_tqdm=True)
               ) -> tuple[str, str, str, str]:
    """(before, after, mask, notes) as PNG files and Markdown."""
    face = face_source(model, source, seed, truncation, inverted)
    G, size = face.pipe.generator_for(face.delta), face.pipe.size
    reference = face.pipe.seed_latent(check_seed(reference_seed), truncation)
    notes = []
    if region == PAINTED:
        mask = painted_mask(editor)
    elif region in REGIONS:
        with torch.no_grad():
            image = G.synthesis(G.to_wplus(face.w.to(G.device)), size=size)
        try:
            mask = face_region_mask(image, region, size)
        except ValueError:
            mask = face_region_mask(image, region, size, fallback=True)
            notes.append("dlib found no face: used the regions of the average aligned face")
    else:
        raise ValueError(f"region must be one of {', '.join(REGIONS)} or {PAINTED!r}")
    if layer not in (AUTO, None, ""):
        pick_layer(G, size, layer)  # a layer of another model: a clear message
    config = LocalConfig(layer=None if layer in (AUTO, None, "") else layer,
                         keep_outside=bool(keep_outside))
    with RENDERS.slot(BULK):
        result = transplant(G, face.w, reference, mask, config, size)
    change = local_change(result.before, result.after, result.mask)
    notes.insert(0, f"layer **{result.layer}**; change inside / outside the mask "
                    f"{change['inside']:.3f} / {change['outside']:.4f}; seam "
                    f"{seam(result.before, result.after, result.mask):.2f} (1 = invisible)")
    if face.features:
        notes.append("the inverted face's CLCAE F features are not used here (W+ only)")
    mask_image = to_pil(result.mask[None, None].expand(1, 3, -1, -1) * 2 - 1)[0]
    return (png_file(to_pil(result.before)[0]), png_file(to_pil(result.after)[0]),
            png_file(mask_image), "\n".join(f"- {n}" for n in notes))


@friendly_errors
def paint_on_face(model: str, source: str, seed: float, truncation: float,
                  inverted: dict | None) -> dict:
    """The mask editor with the current face as its background, no strokes yet."""
    face = face_source(model, source, seed, truncation, inverted)
    image = before_image(face)
    return {"background": np.asarray(image), "layers": [], "composite": np.asarray(image)}


def refit_layers(model: str) -> Any:
    try:
        return gr.update(choices=layer_choices(model), value=AUTO)
    except Exception:  # noqa: BLE001 - a model that cannot load is reported by the Generate tab
        return gr.skip()


def build_tab(default_model: str, model: gr.Dropdown, inverted: gr.State) -> None:
    """Add the Local edit tab; ``inverted`` is the Invert tab's session state."""
    _, facts = load_model(default_model)
    with gr.Tab("Local edit", id="local"):
        gr.Markdown("Take one region of a reference face into the current face. The feature "
                    "maps of both faces are blended inside the region at one layer; "
                    "everything outside stays as it was.")
        with gr.Row():
            source = gr.Radio(list(SOURCES), value=SOURCES[0], label="Face",
                              elem_id="local-source")
            seed = gr.Number(0, label="Seed", minimum=0, elem_id="local-seed")
            reference = gr.Number(1000, label="Reference seed", minimum=0,
                                  elem_id="local-reference")
            truncation = CheckedSlider(0, 2, facts.truncation, step=0.05, label="Truncation ψ",
                                       elem_id="local-truncation")
        with gr.Row():
            region = gr.Dropdown([*REGIONS, PAINTED], value="mouth", label="Region",
                                 elem_id="local-region")
            layer = gr.Dropdown(layer_choices(default_model), value=AUTO,
                                label="Feature layer (auto: half the size)",
                                elem_id="local-layer")
            keep = gr.Checkbox(True, label="Keep the outside pixel-identical",
                               elem_id="local-keep")
            paint = gr.Button("Paint on the current face", elem_id="local-paint")
            run = gr.Button("Transplant", variant="primary", elem_id="local-run")
        editor = gr.ImageEditor(label="Mask (paint white where the reference goes; used with "
                                "'Painted mask')", type="numpy", elem_id="local-editor",
                                brush=gr.Brush(default_size=16, colors=["#ffffff"],
                                               color_mode="fixed"))
        status = gr.Markdown(elem_id="local-status")
        with gr.Row():
            before = gr.Image(label="Before", format="png", elem_id="local-before")
            after = gr.Image(label="After", format="png", elem_id="local-after")
            mask = gr.Image(label="Mask", format="png", elem_id="local-mask")
        notes = gr.Markdown(elem_id="local-notes")
        inputs = [model, source, seed, truncation, inverted, reference, region, editor, layer,
                  keep]
        connect(run.click, local_edit, inputs, [before, after, mask, notes], status,
                "local_edit", **RENDER)
        connect(paint.click, paint_on_face, inputs[:5], [editor], status, **RENDER)
        model.change(refit_layers, model, layer, api_visibility="private")
