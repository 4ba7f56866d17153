"""Generator speed and memory: stylelab's PyTorch MobileStyleGAN vs OpenVINO on the same IR.

For each (backend, size, batch) a fresh subprocess loads the model, warms up,
and times mapping + synthesis; it reports the median and the process's peak
RSS. OpenVINO runs the original IR (1024px output; smaller sizes are its
1024px image area-downsampled). Both run in the same invocation, so the
ratio is meaningful on a noisy machine. Variants (channels-last off,
``torch.compile``, no inference mode) are timed at 256 and 1024px, batch 1.

    python benchmarks/generator.py [--repeats 7] [--json benchmarks/results/generator.json]
    python benchmarks/generator.py --cli [--faces 24] [--rounds 3]   # whole-process CLI

Targets (2-core CPU): 256px batch-1 synthesis <= 120 ms median; 1024px <= 2.0x OpenVINO;
``stylelab generate --seeds 0-23 --size 1024`` as a whole process <= 1.5x a process in
which OpenVINO renders the same 24 faces and writes them as PNGs the same way (the same
writer thread and zlib level); ``--cli`` also times PNG encoding at each zlib level.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = (256, 512, 1024)
BATCHES = (1, 8)
VARIANTS = ("default", "no-channels-last", "no-inference-mode", "compile")


def _timeit(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def run_torch(size: int, batch: int, repeats: int, variant: str) -> dict:
    import torch

    from stylelab import load_generator, z_from_seeds

    G = load_generator("mobilestylegan-ffhq")
    z = z_from_seeds(range(batch))
    if variant == "no-channels-last":
        from stylelab.models.mobilestylegan import MobileBlock

        MobileBlock.memory_format = torch.contiguous_format
    synth = G.synthesis
    if variant == "compile":
        synth = torch.compile(G.synthesis, dynamic=False)
    ctx = torch.no_grad if variant == "no-inference-mode" else torch.inference_mode

    def step():
        with ctx():
            synth(G.map(z, 0.7), size=size)

    return {"ms": _timeit(step, repeats)}


def run_openvino(size: int, batch: int, repeats: int) -> dict:
    import openvino as ov

    from stylelab.latents import z_from_seeds
    from stylelab.registry import random_face_data_dir

    data, core = random_face_data_dir(), ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32"}
    mapping = core.read_model(str(data / "MappingNetwork.xml"))
    synthesis = core.read_model(str(data / "SynthesisNetwork.xml"))
    mapping.reshape({0: [batch, 512]})
    synthesis.reshape({0: [batch, 512]})
    m, s = core.compile_model(mapping, "CPU", cfg), core.compile_model(synthesis, "CPU", cfg)
    z = z_from_seeds(range(batch)).numpy()

    def step():
        img = s(m(z)[0])[0]
        if size != 1024:
            f = 1024 // size
            img.reshape(batch, 3, size, f, size, f).mean(axis=(3, 5))

    return {"ms": _timeit(step, repeats)}


def openvino_cli(faces: int, out: Path) -> None:
    """What ``stylelab generate --size 1024`` does, with OpenVINO: load, map, synthesise
    and write each face as a PNG the same way (stylelab's writer thread, zlib level 1,
    the same queue bound), one process."""
    import numpy as np
    import openvino as ov
    from PIL import Image

    from stylelab.fileio import save_pngs
    from stylelab.latents import z_from_seeds
    from stylelab.registry import random_face_data_dir

    data, core = random_face_data_dir(), ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32"}
    m = core.compile_model(str(data / "MappingNetwork.xml"), "CPU", cfg)
    s = core.compile_model(str(data / "SynthesisNetwork.xml"), "CPU", cfg)

    def rendered():
        for seed in range(faces):
            img = s(m(z_from_seeds([seed]).numpy())[0])[0][0]
            pixels = np.clip((img.transpose(1, 2, 0) + 1) * 127.5 + 0.5, 0, 255)
            yield Image.fromarray(pixels.astype(np.uint8)), out / f"seed{seed:04d}.png"

    for _ in save_pngs(rendered(), ahead=16):  # the CLI's bound at its default batch (8)
        pass


def png_levels(repeats: int = 3) -> list[dict]:
    """Encode time and size of one 1024px face at each zlib level (the trade-off behind
    ``stylelab.fileio.PNG_LEVEL``)."""
    import io

    from stylelab import load_generator, z_from_seeds
    from stylelab.images import to_pil

    G = load_generator("mobilestylegan-ffhq")
    with __import__("torch").inference_mode():
        image = to_pil(G.synthesis(G.map(z_from_seeds([0]), 0.7), size=1024))[0]
    rows = []
    for level in (0, 1, 2, 3, 6, 9):
        def encode(level=level) -> int:
            buf = io.BytesIO()
            image.save(buf, format="PNG", compress_level=level)
            return buf.tell()
        rows.append({"level": level, "ms": _timeit(encode, repeats), "kb": encode() / 1024})
    return rows


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def compare_cli(faces: int, rounds: int) -> dict:
    """Wall time of the two whole processes, alternated ``rounds`` times in this run (so
    load from other work hits both), each in a fresh output folder; medians compared."""
    import tempfile

    stylelab_cli = Path(sys.executable).with_name("stylelab")
    times: dict[str, list[float]] = {"stylelab generate": [], "OpenVINO": []}
    sizes: dict[str, int] = {}
    load_before = os.getloadavg()
    print(f"{faces} faces at 1024px, whole process, {rounds} alternated round(s); "
          f"load average {load_before[0]:.2f} on {os.cpu_count()} cpus")
    print(f"{'round':>5} {'stylelab s':>11} {'OpenVINO s':>11} {'ratio':>6}")
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            cmds = {"stylelab generate": [str(stylelab_cli), "generate", "--seeds",
                                          f"0-{faces - 1}", "--size", "1024", "--out",
                                          f"{tmp}/torch"],
                    "OpenVINO": [sys.executable, __file__, "--child-ov-cli", "--faces",
                                 str(faces), "--out", f"{tmp}/ov"]}
            for name, cmd in cmds.items():
                times[name].append(_timed(cmd))
                files = list(Path(cmd[-1]).glob("seed*.png"))
                assert len(files) == faces, f"{name} wrote {len(files)} of {faces} PNGs"
                sizes[name] = sum(f.stat().st_size for f in files)
        print(f"{r + 1:5d} {times['stylelab generate'][-1]:11.1f} {times['OpenVINO'][-1]:11.1f} "
              f"{times['stylelab generate'][-1] / times['OpenVINO'][-1]:6.2f}")
    median = {k: statistics.median(v) for k, v in times.items()}
    ratio = median["stylelab generate"] / median["OpenVINO"]
    print(f"median: stylelab {median['stylelab generate']:.1f} s, OpenVINO "
          f"{median['OpenVINO']:.1f} s, ratio {ratio:.2f} (target <= 1.5: "
          f"{'met' if ratio <= 1.5 else 'NOT met'}); load average now {os.getloadavg()[0]:.2f}")
    levels = png_levels()
    print("\nPNG encoding of one 1024px face:\n level     ms      KB")
    for row in levels:
        print(f"{row['level']:6d} {row['ms']:6.0f} {row['kb']:7.0f}")
    return {"faces": faces, "rounds": rounds, "seconds": times, "median_seconds": median,
            "ratio": ratio, "target": 1.5, "png_bytes": sizes, "png_levels": levels,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
            "cpus": os.cpu_count()}


def child(args: argparse.Namespace) -> None:
    if args.backend == "openvino":
        result = run_openvino(args.size, args.batch, args.repeats)
    else:
        result = run_torch(args.size, args.batch, args.repeats, args.variant)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(backend: str, size: int, batch: int, repeats: int, variant: str = "default") -> dict:
    cmd = [sys.executable, __file__, "--child", "--backend", backend, "--size", str(size),
           "--batch", str(batch), "--repeats", str(repeats), "--variant", variant]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, env=os.environ)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description="generator benchmark")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", default="benchmarks/results/generator.json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--variant", default="default")
    ap.add_argument("--skip-variants", action="store_true")
    ap.add_argument("--cli", action="store_true", help="only the whole-process CLI comparison")
    ap.add_argument("--faces", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3, help="--cli: alternated runs of each")
    ap.add_argument("--child-ov-cli", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.child_ov_cli:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        return openvino_cli(args.faces, Path(args.out))
    if args.cli:
        result = compare_cli(args.faces, args.rounds)
        path = Path(args.json).with_name("generator_cli.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))
        print("wrote", path)
        return None
    import torch

    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus")
    print(f"{'size':>5} {'batch':>5} {'torch ms':>9} {'OV ms':>8} {'ratio':>6} "
          f"{'torch MB':>9} {'OV MB':>7}  (mapping + synthesis, median of {args.repeats})")
    for size in SIZES:
        for batch in BATCHES:
            t = measure("torch", size, batch, args.repeats)
            o = measure("openvino", size, batch, args.repeats)
            row = {"size": size, "batch": batch, "torch": t, "openvino": o}
            if "ms" in t and "ms" in o:
                row["ratio_torch_over_openvino"] = t["ms"] / o["ms"]
                print(f"{size:5d} {batch:5d} {t['ms']:9.1f} {o['ms']:8.1f} "
                      f"{t['ms'] / o['ms']:6.2f} {t['peak_rss_mb']:9.0f} {o['peak_rss_mb']:7.0f}")
            else:
                print(f"{size:5d} {batch:5d} error: {t.get('error') or o.get('error')}")
            rows.append(row)
    variants = []
    if not args.skip_variants:
        print("\nvariants, batch 1 (torch ms):")
        for variant in VARIANTS:
            res = {s: measure("torch", s, 1, args.repeats, variant) for s in (256, 1024)}
            variants.append({"variant": variant, **{str(s): r for s, r in res.items()}})
            print(f"  {variant:18} " + "  ".join(
                f"{s}px {r['ms']:7.1f}" if "ms" in r else f"{s}px {r['error']}"
                for s, r in res.items()))
    by_key = {(r["size"], r["batch"]): r for r in rows}
    targets = {
        "256px_batch1_ms": by_key[(256, 1)]["torch"].get("ms"),
        "256px_batch1_target_ms": 120,
        "1024px_batch1_ratio": by_key[(1024, 1)].get("ratio_torch_over_openvino"),
        "1024px_ratio_target": 2.0,
    }
    print("\ntargets:", json.dumps(targets))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"rows": rows, "variants": variants,
                                           "targets": targets}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
