"""Train the bundled face text-image model ``stylelab/faces-minilm`` (resumable, CPU first).

    # 1. cache the frozen lower-trunk features of every face (renders them from their seeds)
    python training/train_facetext.py --cache-features [--faceset DIR] [--threads 2]
    # 2. contrastive training on the cached features (held-out faces: the last --heldout)
    python training/train_facetext.py [--epochs 12] [--batch-size 64] [--threads 2]
    # 3. write the fp16 asset + JSON + sha256 (default: stylelab/assets/facetext/)
    python training/train_facetext.py --export [PATH]
    # check the labellers by eye: one contact sheet per attribute (N faces each)
    python training/train_facetext.py --validate-labels 30 [--attribute eyes] [--sheets DIR]
    # everything in seconds on a tiny random set (tests): stages 1-3 into the work dir
    python training/train_facetext.py --tiny [--epochs 2] [--work-dir DIR]

The work dir (default ``<stylelab cache>/training/facetext/``) holds ``features/`` (fp16
safetensors shards of the trunk's ``s16`` maps, one per ``--shard-size`` faces, skipped when
present), ``text_cache.safetensors`` (frozen MiniLM embeddings of every caption seen),
``checkpoint.safetensors`` (trained parts + AdamW state) and ``checkpoint.json`` (step
counter, CPU time, per-epoch metrics): rerunning a command resumes it. Captions are drawn
again every epoch (:class:`stylelab.clip.captions.CaptionComposer`, held-out templates and
words never used); each epoch ends with zero-shot accuracies per attribute on the held-out
faces, with seen and with held-out templates/words. CPU by default; the same code runs on
CUDA (``--device cuda``) and under ``accelerate launch`` (each process takes its slice of
every batch; the main one saves).

Budget (measured on 1 thread of a busy 2-core CPU, 2 threads roughly halve the wall time):
stage 1 renders a 256 px face in ~0.12 s and runs the trunk in ~0.036 s (159 s CPU per 1000
faces: ~53 min for 20,000); stage 2 takes ~1.0 s per step of 64 faces (281 steps per epoch of
18,000 faces: ~4.7 min) plus ~2.5 min of MiniLM for that epoch's new captions and ~15 s of
evaluation: ~7.5 min per epoch, ~1.5 h for 12 epochs. Features need 44 KB per face (880 MB
for 20,000, in RAM during training). Multi-process: ``torchrun --nproc_per_node N`` or
``accelerate launch`` (stage 2 only; run stage 1 in one process).

``--tiny``: a synthetic 48-face set with random labels rendered by the hidden ``tiny-test``
generator, the hidden ``tiny-backbone`` (split after ``c2``) and a hashed-words text tower:
no weights needed, for tests of the plumbing only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file
from safetensors.torch import load_file
from safetensors.torch import save_file as save_torch
from tqdm.auto import tqdm

from stylelab import load_generator
from stylelab.cache import cache_dir
from stylelab.clip.captions import VALUES, CaptionComposer, Labeller, validation_sheet
from stylelab.clip.faces_minilm import ASSET, FacesMiniLM
from stylelab.datasets.faceset import COLUMNS, FaceSet, load_faceset
from stylelab.fileio import atomic_write, write_text
from stylelab.images import to_uint8

EVAL = ("gender", "age", "expression", "smile", "mouth", "eyes", "yaw", "pitch", "hair",
        "background")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faceset", help="face-set shards or file (default: the cache's "
                    "faceset/mobilestylegan-ffhq-psi1 shards, else the shipped labels)")
    ap.add_argument("--work-dir", help="features, caches, checkpoints")
    ap.add_argument("--cache-features", action="store_true", help="stage 1 only")
    ap.add_argument("--export", nargs="?", const=str(ASSET), metavar="PATH")
    ap.add_argument("--validate-labels", type=int, metavar="N")
    ap.add_argument("--attribute", choices=sorted(VALUES), help="with --validate-labels")
    ap.add_argument("--sheets", default="facetext_sheets", help="folder for the sheets")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--heldout", type=int, default=2000, help="last faces kept for evaluation")
    ap.add_argument("--max-faces", type=int, help="use only the first faces (timing runs)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3, help="projections and temperature")
    ap.add_argument("--lr-upper", type=float, default=1e-4, help="fine-tuned EfficientNet blocks")
    ap.add_argument("--embed-dim", type=int, default=256)
    ap.add_argument("--render-size", type=int, default=256)
    ap.add_argument("--render-batch", type=int, default=16)
    ap.add_argument("--shard-size", type=int, default=500)
    ap.add_argument("--checkpoint-every", type=int, default=100, help="steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args(argv)
    if args.tiny:  # tiny defaults; options given explicitly still win
        ap.set_defaults(heldout=16, batch_size=16, embed_dim=16, render_size=64, shard_size=16,
                        epochs=2, checkpoint_every=2)
        args = ap.parse_args(argv)
    return args


def work_dir(args) -> Path:
    out = Path(args.work_dir or cache_dir() / "training" / ("facetext-tiny" if args.tiny
                                                            else "facetext"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def make_model(args, vocabulary=()) -> FacesMiniLM:
    if args.tiny:
        return FacesMiniLM("tiny-backbone", "c2", "hashed-32", args.embed_dim, 4, vocabulary)
    return FacesMiniLM(embed_dim=args.embed_dim, vocabulary=vocabulary)


def tiny_faceset(folder: Path, n: int = 48) -> Path:
    """Synthetic labels (random, seeded) for seeds 0..n-1 of ``tiny-test``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shard_00000000_{n}.safetensors"
    if not path.exists():
        rng = np.random.default_rng(0)
        cols = {c: rng.uniform(0, 1, n) for c in COLUMNS}
        expr = rng.dirichlet(np.full(7, 0.3), n)
        cols |= dict(zip(("neutral", "happy", "sad", "angry", "fearful", "disgusted",
                          "surprised"), expr.T, strict=True))
        cols |= {"face_found": np.ones(n), "age": rng.uniform(0, 80, n),
                 "smile": rng.normal(0.05, 0.08, n), "mouth_open": rng.uniform(0, 0.3, n),
                 "eye_openness": rng.uniform(0.05, 0.4, n), "yaw": rng.normal(0, 20, n),
                 "pitch": rng.normal(0, 10, n)}
        arrays = {"seeds": np.arange(n, dtype=np.int64)}
        arrays |= {f"m.{c}": np.asarray(v, dtype=np.float32) for c, v in cols.items()}
        save_file(arrays, str(path), metadata={"model": "tiny-test", "psi": "1.0", "size": "64"})
    return folder


def load_faces(args) -> FaceSet:
    shards = cache_dir() / "faceset" / "mobilestylegan-ffhq-psi1"
    if args.tiny:
        fs = FaceSet.load(tiny_faceset(work_dir(args) / "tiny-faceset"))
    elif args.faceset or shards.is_dir():
        fs = FaceSet.load(args.faceset or shards)
    else:  # the shipped labels (seeds + fp16 labels; faces are rendered from the seeds)
        fs = load_faceset("mobilestylegan-ffhq-psi1")
    return fs.subset(np.arange(min(len(fs), args.max_faces))) if args.max_faces else fs


# ------------------------------------------------------------------ stage 1: features
def cache_features(args, fs: FaceSet, model: FacesMiniLM, device: torch.device) -> None:
    out = work_dir(args) / "features"
    out.mkdir(exist_ok=True)
    G = load_generator(fs.meta.get("model", "mobilestylegan-ffhq"), device=device)
    model.to(device)
    meta = {"backbone": model.config["backbone"], "split": model.split,
            "render_size": str(args.render_size), "model": G.model_name}
    todo = [(s, min(args.shard_size, len(fs) - s)) for s in range(0, len(fs), args.shard_size)]
    todo = [(s, c) for s, c in todo if not (out / f"shard_{s:06d}_{c}.safetensors").exists()]
    bar = tqdm(total=sum(c for _, c in todo), desc="trunk features", unit="face")
    cost_path = out / "cost.json"
    spent = json.loads(cost_path.read_text()) if cost_path.exists() else {
        "render_cpu_seconds": 0.0, "trunk_cpu_seconds": 0.0, "faces": 0}
    run = {"render": 0.0, "trunk": 0.0, "faces": 0}
    for start, count in todo:
        maps = []
        for b in range(start, start + count, args.render_batch):
            idx = np.arange(b, min(b + args.render_batch, start + count))
            t0 = time.process_time()
            images = fs.render(G, idx, args.render_size)
            t1 = time.process_time()
            with torch.no_grad():
                maps.append(model.lower(model.preprocess(images.to(device))).half().cpu())
            run["render"] += t1 - t0
            run["trunk"] += time.process_time() - t1
            bar.update(len(idx))
        feats = torch.cat(maps).contiguous()
        seeds = torch.from_numpy(fs.seeds[start:start + count].astype(np.int64))
        with atomic_write(out / f"shard_{start:06d}_{count}.safetensors") as tmp:
            save_torch({"features": feats, "seeds": seeds}, str(tmp), metadata=meta)
        run["faces"] += count
        spent = {"render_cpu_seconds": spent["render_cpu_seconds"] + run["render"],
                 "trunk_cpu_seconds": spent["trunk_cpu_seconds"] + run["trunk"],
                 "faces": spent["faces"] + count, "threads": torch.get_num_threads(),
                 "device": str(device)}
        run |= {"render": 0.0, "trunk": 0.0}
        write_text(cost_path, json.dumps(spent))
    bar.close()
    if spent["faces"]:
        k = 1000 / spent["faces"]
        print(f"CPU per 1000 faces: render {spent['render_cpu_seconds'] * k:.0f} s + trunk "
              f"{spent['trunk_cpu_seconds'] * k:.0f} s (threads {torch.get_num_threads()}, "
              f"{device}; {spent['faces']} faces cached)")


def load_features(args, fs: FaceSet) -> torch.Tensor:
    out, parts = work_dir(args) / "features", []
    for start in range(0, len(fs), args.shard_size):
        count = min(args.shard_size, len(fs) - start)
        path = out / f"shard_{start:06d}_{count}.safetensors"
        if not path.exists():
            sys.exit(f"{path.name} is missing: run this script with --cache-features first")
        part = load_file(str(path))
        if not torch.equal(part["seeds"], torch.from_numpy(fs.seeds[start:start + count])):
            sys.exit(f"{path} was made for other seeds: delete {out} and cache again")
        parts.append(part["features"])
    return torch.cat(parts)


# ------------------------------------------------------------------ stage 2: training
class TextCache:
    """Frozen text-tower embeddings of every caption seen, kept on disk between runs."""

    def __init__(self, path: Path, model: FacesMiniLM):
        self.path, self.model = path, model
        self.index: dict[str, int] = {}
        self.rows: list[torch.Tensor] = []
        if path.exists() and path.with_suffix(".json").exists():
            self.index = {c: i for i, c in enumerate(json.loads(
                path.with_suffix(".json").read_text()))}
            self.rows = [load_file(str(path))["embeddings"]]

    def ids(self, captions: list[str]) -> torch.Tensor:
        new = [c for c in dict.fromkeys(captions) if c not in self.index]
        for b in tqdm(range(0, len(new), 256), desc="MiniLM captions", disable=len(new) < 512):
            with torch.no_grad():
                self.rows.append(self.model.text(new[b:b + 256]).half().cpu())
        self.index |= {c: len(self.index) + i for i, c in enumerate(new)}
        return torch.tensor([self.index[c] for c in captions])

    def embeddings(self) -> torch.Tensor:
        self.rows = [torch.cat(self.rows)] if len(self.rows) > 1 else self.rows
        return self.rows[0]

    def save(self) -> None:
        with atomic_write(self.path) as tmp:
            save_torch({"embeddings": self.embeddings()}, str(tmp))
        write_text(self.path.with_suffix(".json"), json.dumps(list(self.index)))


def infonce(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor, ids: torch.Tensor
            ) -> torch.Tensor:
    """Symmetric InfoNCE; faces sharing one caption are all positives for it."""
    logits = scale.exp().clamp(max=100) * F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).T
    same = (ids[:, None] == ids[None, :]).float()
    target = same / same.sum(1, keepdim=True)
    return (-(target * logits.log_softmax(1)).sum(1).mean()
            - (target * logits.log_softmax(0)).sum(0).mean()) / 2


@torch.no_grad()
def evaluate(model, feats, attrs, heldout, composer, cache, device) -> dict:
    """Zero-shot accuracy (and class-balanced accuracy) per attribute on held-out faces."""
    model.eval()
    img = torch.cat([F.normalize(model.image_features(feats[heldout[b:b + 256]].to(device)), dim=-1)
                     for b in range(0, len(heldout), 256)])
    out = {}
    for split in ("train", "heldout"):
        for attr in EVAL:
            values = VALUES[attr]
            classes = [composer.class_prompts(attr, v, split) for v in values]
            ids = [cache.ids(p) for p in classes]
            table = cache.embeddings()
            cls = torch.stack([F.normalize(model.text_proj(table[i].to(device).float()), dim=-1)
                               .mean(0) for i in ids])
            truth = np.array([values.index(attrs[i][attr]) if attr in attrs[i] else -1
                              for i in heldout])
            pred = (img @ F.normalize(cls, dim=-1).T).argmax(1).cpu().numpy()
            have = truth >= 0
            if have.sum():
                recall = [float((pred[truth == k] == k).mean()) for k in range(len(values))
                          if (truth == k).any()]
                out[f"{split}/{attr}"] = {"acc": float((pred[have] == truth[have]).mean()),
                                          "balanced": float(np.mean(recall)),
                                          "faces": int(have.sum())}
    model.train()
    return out


def print_metrics(metrics: dict) -> None:
    print(f"{'attribute':12s} {'faces':>6s}  seen acc (bal)   held-out acc (bal)")
    for attr in EVAL:
        s, h = metrics.get(f"train/{attr}"), metrics.get(f"heldout/{attr}")
        if s:
            print(f"{attr:12s} {s['faces']:6d}  {s['acc']:.3f} ({s['balanced']:.3f})    "
                  f"{h['acc']:.3f} ({h['balanced']:.3f})")


def save_checkpoint(path: Path, model, opt, state: dict) -> None:
    tensors = {f"model.{k}": v.float().cpu().contiguous() for k, v in model.trained_state().items()}
    opt_state = opt.state_dict()
    for i, slots in opt_state["state"].items():
        tensors |= {f"opt.{i}.{k}": torch.as_tensor(v).float().cpu().contiguous()
                    for k, v in slots.items()}
    with atomic_write(path.with_suffix(".safetensors")) as tmp:
        save_torch(tensors, str(tmp))
    write_text(path.with_suffix(".json"), json.dumps(
        state | {"param_groups": opt_state["param_groups"]}, indent=1))


def load_checkpoint(path: Path, model, opt) -> dict | None:
    if not path.with_suffix(".json").exists():
        return None
    state = json.loads(path.with_suffix(".json").read_text())
    tensors = load_file(str(path.with_suffix(".safetensors")))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
                          strict=False)
    slots: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, i, name = k.split(".", 2)
            slots.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": slots, "param_groups": state.pop("param_groups")})
    return state


class Step(torch.nn.Module):
    """The trained computation as one module (what accelerate/DDP wraps)."""

    def __init__(self, model: FacesMiniLM):
        super().__init__()
        self.model = model

    def forward(self, feats: torch.Tensor, text: torch.Tensor):
        m = self.model
        return m.image_features(feats), m.text_proj(text), m.logit_scale


def train(args, fs: FaceSet, model: FacesMiniLM) -> dict:
    try:  # accelerate when installed: `accelerate launch` / multi-GPU unchanged
        from accelerate import Accelerator

        acc = Accelerator(cpu=args.device == "cpu")
        device, rank, world, main = acc.device, acc.process_index, acc.num_processes, \
            acc.is_main_process
    except ImportError:
        acc, device, rank, world, main = None, torch.device(args.device), 0, 1, True
    out = work_dir(args)
    feats = load_features(args, fs)
    attrs = Labeller().label_all(fs.labels)
    n_train = len(fs) - args.heldout
    if n_train < args.batch_size or args.heldout < 1:
        sys.exit(f"{len(fs)} faces cannot give {args.heldout} held-out faces and a batch of "
                 f"{args.batch_size} training faces")
    heldout = np.arange(n_train, len(fs))
    composer, cache = CaptionComposer(args.seed), TextCache(out / "text_cache.safetensors", model)
    model.to(device).train()
    for p in model.parameters():
        p.requires_grad_(False)
    upper = [p for p in model.upper.parameters()]
    heads = [p for p in model.trainable_parameters() if all(p is not q for q in upper)]
    for p in upper + heads:
        p.requires_grad_(True)
    opt = torch.optim.AdamW([{"params": upper, "lr": args.lr_upper},
                             {"params": heads, "lr": args.lr}], weight_decay=0.01)
    state = load_checkpoint(out / "checkpoint", model, opt) or {
        "step": 0, "epoch": 0, "batch": 0, "cpu_seconds": 0.0, "history": []}
    if state.get("faces", len(fs)) != len(fs) or state.get("batch_size", args.batch_size) \
            != args.batch_size:
        sys.exit(f"the checkpoint in {out} was made with other faces or batch size: use "
                 "another --work-dir or delete it")
    state |= {"faces": len(fs), "batch_size": args.batch_size, "heldout": args.heldout}
    steps_per_epoch = n_train // args.batch_size
    total = steps_per_epoch * args.epochs
    step_fn = Step(model)
    if acc is not None:
        step_fn, opt = acc.prepare(step_fn, opt)
    c0, loss = time.process_time(), torch.tensor(math.nan)
    for epoch in range(state["epoch"], args.epochs):
        perm = np.random.default_rng([args.seed, epoch]).permutation(n_train)
        captions = [composer.caption(attrs[i], int(fs.seeds[i]), epoch) for i in range(n_train)]
        caption_ids = cache.ids(captions)
        text = cache.embeddings()
        if main:
            cache.save()
        bar = tqdm(range(state["batch"], steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}",
                   initial=state["batch"], total=steps_per_epoch, disable=not main)
        for b in bar:
            idx = perm[b * args.batch_size:(b + 1) * args.batch_size][rank::world]
            ids = caption_ids[idx]
            warm = min(1.0, (state["step"] + 1) / max(1, min(100, total // 10)))
            for group, base in zip(opt.param_groups, (args.lr_upper, args.lr), strict=True):
                group["lr"] = base * warm * 0.5 * (1 + math.cos(math.pi * state["step"] / total))
            img, txt, scale = step_fn(feats[idx].to(device), text[ids].to(device).float())
            loss = infonce(img, txt, scale, ids.to(device))
            opt.zero_grad(set_to_none=True)
            acc.backward(loss) if acc is not None else loss.backward()
            opt.step()
            state["step"] += 1
            state["batch"] = b + 1
            bar.set_postfix(loss=f"{loss.item():.3f}", T=f"{1 / scale.exp().item():.3f}")
            if main and state["step"] % args.checkpoint_every == 0:
                state["cpu_seconds"] += time.process_time() - c0
                c0 = time.process_time()
                save_checkpoint(out / "checkpoint", model, opt, state)
        bar.close()
        state |= {"epoch": epoch + 1, "batch": 0}
        state["cpu_seconds"] += time.process_time() - c0
        c0 = time.process_time()
        if main:
            metrics = evaluate(model, feats, attrs, heldout, composer, cache, device)
            cache.save()
            state["history"].append({"epoch": epoch + 1, "step": state["step"],
                                     "loss": loss.item(), **metrics})
            print(f"epoch {epoch + 1}: step {state['step']}, loss {loss.item():.3f}, "
                  f"CPU {state['cpu_seconds']:.0f} s; zero-shot on {len(heldout)} held-out faces:")
            print_metrics(metrics)
            save_checkpoint(out / "checkpoint", model, opt, state)
        if acc is not None:
            acc.wait_for_everyone()
    return state


# ------------------------------------------------------------------ export, sheets
def export(args, fs: FaceSet, model: FacesMiniLM, path: Path) -> None:
    ckpt = work_dir(args) / "checkpoint"
    if not ckpt.with_suffix(".json").exists():
        sys.exit(f"no checkpoint in {ckpt.parent}: train first")
    state = json.loads(ckpt.with_suffix(".json").read_text())
    tensors = load_file(str(ckpt.with_suffix(".safetensors")))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
                          strict=False)
    n_train = state["faces"] - state["heldout"]
    cost = work_dir(args) / "features" / "cost.json"
    recipe = (f"python training/train_facetext.py --tiny --epochs {state['epoch']}" if args.tiny
              else "python training/train_facetext.py --cache-features && python training/"
              f"train_facetext.py --epochs {state['epoch']} --batch-size {state['batch_size']} "
              f"--heldout {state['heldout']} && python training/train_facetext.py --export")
    info = {"command": recipe, "export_command": " ".join(["python", *sys.argv]),
            "faceset": fs.meta, "train_seeds": f"{int(fs.seeds[0])}..{int(fs.seeds[n_train - 1])}",
            "heldout_seeds": f"{int(fs.seeds[n_train])}..{int(fs.seeds[state['faces'] - 1])}",
            "steps": state["step"], "epochs": state["epoch"], "cpu_seconds": state["cpu_seconds"],
            "feature_cost": json.loads(cost.read_text()) if cost.exists() else None,
            "metrics": state["history"][-1] if state["history"] else {},
            "labeller": Labeller().t.__dict__, "seen_words": len(CaptionComposer.vocabulary()),
            "held_out_phrases": CaptionComposer.heldout_phrases()}
    model.save(path, info)
    print(f"exported {path} ({path.stat().st_size / 1e6:.1f} MB) + .json + .sha256")


def validate_labels(args, fs: FaceSet, n: int) -> None:
    """One sheet per attribute: ``n`` faces spread over its values, with the raw measures."""
    attrs, G = Labeller().label_all(fs.labels), load_generator(fs.meta.get("model",
                                                                          "mobilestylegan-ffhq"))
    folder = Path(args.sheets)
    folder.mkdir(parents=True, exist_ok=True)
    raw = {"age": "age", "decade": "age", "gender": "gender", "smile": "smile",
           "mouth": "mouth_open", "eyes": "eye_openness", "yaw": "yaw", "pitch": "pitch",
           "background": "background_luma", "hair": "hair_luma", "expression": "happy"}
    for attribute in [args.attribute] if args.attribute else list(VALUES):
        rng, values, idx = np.random.default_rng(args.seed), VALUES[attribute], []
        for k, value in enumerate(values):
            have = [i for i, a in enumerate(attrs) if a.get(attribute) == value]
            idx += [int(i) for i in rng.permutation(have)[:(n - len(idx)) // (len(values) - k)]]
        if not idx:
            continue
        images = to_uint8(torch.cat([fs.render(G, idx[b:b + 16], args.render_size)
                                     for b in range(0, len(idx), 16)]))
        titles = [f"{fs.seeds[i]} {raw[attribute]}={fs.labels[raw[attribute]][i]:.2f}"
                  for i in idx]
        path = validation_sheet(images, [{attribute: attrs[i][attribute]} for i in idx],
                                folder / f"labels_{attribute}.png", titles)
        print(f"{attribute}: {len(idx)} faces -> {path}")


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tiny:
        import stylelab.testing  # noqa: F401 - registers tiny-test and tiny-backbone
    fs = load_faces(args)
    if args.validate_labels:
        return validate_labels(args, fs, args.validate_labels)
    model = make_model(args, CaptionComposer.vocabulary())
    if args.export and not args.tiny:
        return export(args, fs, model, Path(args.export))
    if args.cache_features or args.tiny:
        cache_features(args, fs, model, torch.device(args.device))
        if not args.tiny:
            return
    state = train(args, fs, model)
    if args.tiny and int(os.environ.get("RANK", "0")) == 0:  # never over the shipped asset
        path = args.export if args.export and args.export != str(ASSET) else None
        export(args, fs, model, Path(path or work_dir(args) / "faces-minilm-tiny.safetensors"))
    print(f"done: {state['step']} steps, {state['epoch']} epochs, CPU {state['cpu_seconds']:.0f} s")


if __name__ == "__main__":
    main()
