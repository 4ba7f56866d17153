"""CLCAE's ablations at one training budget (nothing imports this file).

Every arm starts from the same saved encoder (``--init-from``, by default the shipped e4e:
same pyramid, w head and map2style blocks) and trains ``--steps`` steps of
``train_encoder.py`` on the same seed stream, so the arms differ only in what is ablated:

- ``paper``: CLCAE as the paper writes it (one-token W+ and F cross-attention, L_align 0.1,
  reconstructions of W+ and W+ with F);
- ``noalign``: the same without L_align (CLCAE's central claim: alignment improves W);
- ``tokens``: the non-degenerate attention (keys/values = all W+ layer tokens);
- ``nof``: no F branch (W+ only);
- ``map2style``: plain map2style W+ (e4e's recipe), no cross-attention.

Each arm is its own resumable run (``<cache>/training/encoders/<model>/ablate<steps>-<arm>``;
run the same command again after an interruption) and writes
``<cache>/encoders/<model>/variants/ablate<steps>-<arm>.safetensors``, which
``benchmarks/encoders.py --methods variants`` measures (``variant:<name>-w``, ``-w+``,
``-w+f``). Arms run one after another; split ``--arms`` over processes to use more cores.

    python training/ablate_clcae.py --steps 200 --threads 1 [--arms paper,noalign]
    python training/ablate_clcae.py --tiny --steps 1        # seconds, tiny test models
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_encoder  # noqa: E402  (a sibling recipe, not a package)

from stylelab.cache import cache_dir  # noqa: E402
from stylelab.encoders.registry import encoder_path  # noqa: E402

ARMS: dict[str, list[str]] = {
    "paper": ["--kind", "clcae", "--recon", "wplus,f"],
    "noalign": ["--kind", "clcae", "--recon", "wplus,f", "--align-weight", "0"],
    "tokens": ["--kind", "clcae", "--recon", "wplus,f", "--attention", "tokens"],
    "nof": ["--kind", "clcae", "--recon", "wplus", "--no-f"],
    "map2style": ["--kind", "e4e"],
}


def arm_argv(arm: str, args: argparse.Namespace, passthrough: list[str]) -> list[str]:
    """``train_encoder.py`` arguments of one arm."""
    name = f"ablate{args.steps}-{arm}"
    run_dir = cache_dir() / "training" / "encoders" / args.model / name
    out = cache_dir() / "encoders" / args.model / "variants" / f"{name}.safetensors"
    argv = [*ARMS[arm], "--model", args.model, "--steps", str(args.steps),
            "--run-dir", str(run_dir), "--out", str(out), *passthrough]
    return argv + (["--init-from", args.init_from] if args.init_from else [])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="mobilestylegan-ffhq")
    p.add_argument("--steps", type=int, default=200, help="training steps of every arm")
    p.add_argument("--arms", default=",".join(ARMS), help=f"of {', '.join(ARMS)}")
    p.add_argument("--init-from", default=None,
                   help="saved encoder every arm starts from (default: the model's e4e, "
                        "from the package or the cache; none with --tiny)")
    args, passthrough = p.parse_known_args(argv)
    arms = args.arms.split(",")
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise SystemExit(f"unknown arm(s) {unknown}; choose from {', '.join(ARMS)}")
    if args.init_from is None and "--tiny" not in passthrough:
        found = encoder_path(args.model, "e4e")
        args.init_from = str(found) if found else None
    if "--tiny" in passthrough:
        args.model = "tiny-test"
    for arm in arms:
        print(f"== arm {arm}: {args.steps} steps", flush=True)
        train_encoder.main(arm_argv(arm, args, passthrough))


if __name__ == "__main__":
    main()
