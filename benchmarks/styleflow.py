"""StyleFlow against InterFaceGAN at equal measured change (the StyleFlow paper's claim:
at the same change, the flow keeps identity and the other attributes better).

Faces: ``--faces`` held-out faces of the face set (the flow's last held-out seeds, psi 1) and
``--photos`` openpeople portraits inverted into W+ (``--invert-steps``). For each face and
attribute (age +25 years, gender flipped to 0.1/0.9, smile +1.5 spreads, yaw ±20 degrees):

- StyleFlow: request the value; measure it after the edit: |requested - measured| in natural
  units, dlib identity cosine, attribute dependency (AD: mean |change| of the flow's other
  attributes in spreads of the training faces), seconds per edit;
- InterFaceGAN and conditional InterFaceGAN (the other supervised attributes projected out):
  the strength found by bisection that gives the same measured change as the flow got, then
  the same identity and AD.

Prints a table and writes JSON. Measures: dlib landmarks (smile, yaw, ...) and the face-api.js
nets (age, gender) that also labelled the flow's training data.

    python benchmarks/styleflow.py [--faces 32] [--photos 10] [--attributes age,gender,smile,yaw]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from stylelab import load_generator
from stylelab.datasets.faceset import load_faceset
from stylelab.directions.base import apply_edits
from stylelab.pipelines.edit import EditPipeline
from stylelab.pipelines.flow import FlowPipeline
from stylelab.pipelines.invert import InversionPipeline, example_photos

CONDITIONS = ("smile", "age", "gender", "yaw")


def target_value(name: str, now: float, spread: float) -> float:
    if name == "age":
        return now + 25.0
    if name == "gender":
        return 0.1 if now >= 0.5 else 0.9
    if name == "yaw":
        return now - 20.0 if now > 0 else now + 20.0
    return now + 1.5 * spread


def dependency(pipe: FlowPipeline, name: str, before: dict, after: dict) -> float:
    spreads = dict(zip(pipe.attributes, pipe.flow.a_std.tolist(), strict=True))
    return statistics.fmean(abs(after[k] - before[k]) / spreads[k] for k in pipe.attributes
                            if k != name and math.isfinite(after[k] - before[k]))


def interfacegan_match(flow_pipe: FlowPipeline, edit_pipe: EditPipeline, w: torch.Tensor,
                       name: str, goal: float, before: dict, conditional: bool) -> dict:
    """Bisect the InterFaceGAN strength whose measured ``name`` is closest to ``goal``."""
    G = flow_pipe.G
    conditions = [c for c in CONDITIONS if c != name] if conditional else []

    def measure(strength: float) -> tuple[dict, torch.Tensor]:
        edit = edit_pipe.edits({f"interfacegan/{name}": strength}, conditions=conditions)
        with torch.no_grad():
            image = G.synthesis(apply_edits(G, w, edit), size=flow_pipe.size)
        return flow_pipe.measure(image)[0], image

    sign = 1.0 if goal >= before[name] else -1.0
    low, high, best = 0.0, 5.0, None
    for _ in range(7):
        mid = (low + high) / 2
        m, image = measure(sign * mid)
        if not math.isfinite(m[name]):
            high = mid
            continue
        if best is None or abs(m[name] - goal) < abs(best[0][name] - goal):
            best = (m, image, sign * mid)
        low, high = (mid, high) if (m[name] - goal) * sign < 0 else (low, mid)
    if best is None:
        return {}
    m, image, strength = best
    return {"strength": strength, "reached": m[name], "gap": abs(m[name] - goal),
            "identity": flow_pipe._identity_cosine(flow_pipe.render(w), image),
            "ad": dependency(flow_pipe, name, before, m)}


def faces(args, G) -> list[tuple[str, torch.Tensor]]:
    fs = load_faceset("mobilestylegan-ffhq-psi1")
    seeds = fs.seeds[-args.faces:]
    w = fs.subset(np.arange(len(fs) - args.faces, len(fs))).latents(G)
    out = [(f"seed{s}", w[i:i + 1]) for i, s in enumerate(seeds)]
    inverter = InversionPipeline(G)
    for photo in example_photos()[:args.photos]:
        result = inverter.invert(photo, "w+", args.invert_steps, progress=False).result
        out.append((photo.parent.parent.name, result.latent))
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--faces", type=int, default=32)
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--invert-steps", type=int, default=150)
    ap.add_argument("--attributes", default="age,gender,smile,yaw")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default="benchmarks/results/styleflow.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    G = load_generator(args.model)
    flow_pipe = FlowPipeline.from_name(args.model)
    edit_pipe = EditPipeline(G)
    spreads = dict(zip(flow_pipe.attributes, flow_pipe.flow.a_std.tolist(), strict=True))
    rows = []
    print(f"{'face':22} {'attr':7} {'asked':>7} {'got':>7} {'err':>6} {'id':>5} {'AD':>5} "
          f"{'s':>5} | IFG id/AD | cond id/AD")
    for face, w in faces(args, G):
        for name in args.attributes.split(","):
            before = flow_pipe.measure(flow_pipe.render(w))[0]
            if not all(math.isfinite(v) for v in before.values()):
                continue
            goal = target_value(name, before[name], spreads[name])
            low, high = flow_pipe.limits()[name]
            goal = min(max(goal, low), high)
            start = time.perf_counter()
            result = flow_pipe.edit(w, {name: goal}, current=before)
            seconds = time.perf_counter() - start
            got = result.measured_after[name]
            row = {"face": face, "attribute": name, "requested": goal, "measured": got,
                   "error": abs(got - goal), "identity": result.identity,
                   "ad": dependency(flow_pipe, name, before, result.measured_after),
                   "seconds": seconds}
            if math.isfinite(got):
                row["interfacegan"] = interfacegan_match(flow_pipe, edit_pipe, w, name, got,
                                                         before, False)
                row["conditional"] = interfacegan_match(flow_pipe, edit_pipe, w, name, got,
                                                        before, True)
            rows.append(row)
            ifg, cond = row.get("interfacegan", {}), row.get("conditional", {})
            print(f"{face[:22]:22} {name:7} {goal:7.2f} {got:7.2f} {row['error']:6.2f} "
                  f"{row['identity'] or float('nan'):5.3f} {row['ad']:5.2f} {seconds:5.1f} | "
                  f"{ifg.get('identity', float('nan')):.3f}/{ifg.get('ad', float('nan')):.2f} | "
                  f"{cond.get('identity', float('nan')):.3f}/{cond.get('ad', float('nan')):.2f}",
                  flush=True)
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    summary = {}
    for name in args.attributes.split(","):
        r = [x for x in rows if x["attribute"] == name and math.isfinite(x["measured"])]
        if r:
            summary[name] = {k: statistics.fmean(x[k] for x in r)
                             for k in ("error", "identity", "ad", "seconds")} | {
                f"{m}_{k}": statistics.fmean(x[m][k] for x in r if x.get(m))
                for m in ("interfacegan", "conditional") for k in ("identity", "ad")
                if any(x.get(m) for x in r)} | {"n": len(r)}
    print(json.dumps(summary, indent=1))
    Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows,
                                           "summary": summary}, indent=1))
    return summary


if __name__ == "__main__":
    main()
