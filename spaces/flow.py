"""The Edit tab's StyleFlow mode: sliders are target values in natural units (age in
years, yaw in degrees, ...), set from the face's measured values; applying moves the face
there with the trained flow (:mod:`stylelab.pipelines.flow`)."""

from __future__ import annotations

import math

import gradio as gr

from stylelab.flows import ATTRIBUTES
from stylelab.images import to_pil

from .common import HUB, CheckedSlider, connect, friendly_errors, png_file
from .edit import face_source, region_mask
from .limits import JOBS, RENDER

#: slider ranges (the flow clamps requests to what it was trained on, and says so)
RANGES = {"age": (0.0, 100.0, 1.0, 30.0, "Age (years)"),
          "gender": (0.0, 1.0, 0.01, 0.5, "Gender (probability of male)"),
          "smile": (-0.1, 0.3, 0.005, 0.05, "Smile (landmark measure)"),
          "yaw": (-45.0, 45.0, 1.0, 0.0, "Yaw (degrees, + image right)"),
          "pitch": (-30.0, 30.0, 1.0, 0.0, "Pitch (degrees)"),
          "eye_openness": (0.0, 0.5, 0.005, 0.25, "Eye openness"),
          "mouth_open": (0.0, 0.8, 0.01, 0.05, "Mouth open"),
          "skin_luma": (0.0, 1.0, 0.01, 0.5, "Skin brightness")}


@friendly_errors
def measure_face(model: str, source: str, seed: float, truncation: float,
                 inverted: dict | None, progress: gr.Progress = gr.Progress(track_tqdm=True)
                 ) -> list[float]:
    """The face's measured attributes, one per slider (the flow's attributes)."""
    pipe = HUB.flow(model)
    face = face_source(model, source, seed, truncation, inverted)
    values = pipe.measure(pipe.render(face.w, face.delta, face.features))[0]
    missing = [k for k, v in values.items() if not math.isfinite(v)]
    if missing:
        raise ValueError(f"could not measure {', '.join(missing)} on this face (no face found?)")
    return [round(values.get(a, RANGES[a][3]), 4) for a in ATTRIBUTES]


@friendly_errors
def flow_apply(model: str, source: str, seed: float, truncation: float, inverted: dict | None,
               region: str | None, *values: float,
               progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[str, str]:
    """(after image, notes): the face moved to the slider values that differ from its
    measured ones (every slider is a target; unchanged ones hold their attribute), only
    inside the Edit tab's "Edit only inside" region when one is picked."""
    if len(values) != len(ATTRIBUTES):
        raise ValueError(f"expected {len(ATTRIBUTES)} attribute values, got {len(values)}")
    pipe = HUB.flow(model)
    face = face_source(model, source, seed, truncation, inverted)
    requested = dict(zip(ATTRIBUTES, (float(v) for v in values), strict=True))
    result = pipe.set_values(face.w, requested, delta=face.delta, features=face.features,
                             mask=region_mask(face, region))
    changes = [k for k in ATTRIBUTES if result.requested[k] != result.current[k]]
    rows = [f"| {k} | {result.measured_before[k]:.3g} | {result.requested[k]:.3g} | "
            f"{result.measured_after[k]:.3g} |" for k in changes]
    notes = ["| attribute | before | asked | measured after |", "|---|---:|---:|---:|", *rows]
    if result.identity is not None:
        notes.append(f"\nidentity (dlib cosine, before vs after): {result.identity:.3f}")
    notes += [f"- {n}" for n in result.notes]
    return png_file(to_pil(result.after)[0]), "\n".join(notes)


def build_accordion(model, source, seed, truncation, inverted, region, after, status
                    ) -> None:
    """The StyleFlow accordion (call inside the Edit tab; ``region``: its "Edit only
    inside" picker, which applies here too)."""
    with gr.Accordion("StyleFlow: set attribute values", open=False):
        gr.Markdown("Set target values in natural units; **Measure** starts the sliders at the "
                    "face's own values. Needs a StyleFlow trained for the model "
                    "(`python training/train_styleflow.py`).")
        sliders = []
        with gr.Row():
            for name in ATTRIBUTES:
                low, high, step, value, label = RANGES[name]
                sliders.append(CheckedSlider(low, high, value, step=step, label=label,
                                             elem_id=f"flow-{name.replace('_', '-')}"))
        with gr.Row():
            measure = gr.Button("Measure this face", elem_id="flow-measure")
            apply = gr.Button("Apply StyleFlow", variant="primary", elem_id="flow-apply")
        notes = gr.Markdown(elem_id="flow-notes")
        face = [model, source, seed, truncation, inverted]
        connect(measure.click, measure_face, face, sliders, status, "flow_measure", **RENDER)
        connect(apply.click, flow_apply, [*face, region, *sliders], [after, notes], status,
                "flow_edit", **JOBS)
