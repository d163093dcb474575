"""Benchmark harness: models x datasets x seeds on one protocol, results as a Markdown table and a PNG chart.

    python -m recbole_ilm.experiments.benchmark --models SASRec,GRU4Rec,BackboneOnly,MLPAdapter,ILM-rand,ILM \
        --datasets ml-100k --seeds 2020,2021,2022 --out docs/benchmark [--smoke] [--set key=value ...]

Every cell runs in its own process and leaves ``<out>/cells/<dataset>/<model>-seed<seed>.json`` (RecBole's test
result, extra protocols for the LLM models, wall time); finished cells are not re-run, so an interrupted benchmark
resumes where it stopped, and an LLM cell killed mid-run continues from its last finished epoch when the same command
runs again (its resume point: ``<checkpoint_dir>/benchmark-resume/``, removed once the cell is done). The table
(``<out>/results.md``) and chart cover every finished cell in ``<out>``, this run's models first. ``--smoke`` swaps
in tiny settings (minutes on a CPU) to test the harness itself.
"""

import argparse
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time

from recbole_ilm import cli
from recbole_ilm.variants import resolve_variant
from recbole_ilm.experiments.common import parse_set

LLM_MODELS = {"ILM", "MLPAdapter", "BackboneOnly"}
SMOKE = {
    "epochs": 1, "train_sample_ratio": 0.01, "backbone_epochs": 1, "phase1_epochs": 1, "phase1_steps_per_epoch": 3,
    "llm_layers": 1, "llm_hidden_size": 32, "llm_heads": 2, "llm_intermediate_size": 64,
    "qformer_layers": 1, "qformer_hidden_size": 32, "qformer_heads": 2, "qformer_intermediate_size": 64,
    "cf_dim": 8, "ials_iterations": 2, "hidden_size": 16, "inner_size": 32, "embedding_size": 16,
    "train_batch_size": 64, "eval_batch_size": 512,
}
METRICS = ("hit@5", "ndcg@5", "hit@10", "ndcg@10")


def resolve(label):
    """A model label: a variant (properties/variants/<label>.yaml) or a plugin/RecBole model name."""
    return resolve_variant(label)


def cell_path(out, dataset, label, seed):
    return os.path.join(out, "cells", dataset, f"{label}-seed{seed}.json")


def cell_resume_path(out, dataset, label, seed, config):
    """Where an LLM cell writes its resume points: under its checkpoint_dir, named by the cell and a hash of its
    folder and options, so a cell run again with the same command continues from its last finished epoch, and one
    with other options starts afresh."""
    key = json.dumps({"out": os.path.abspath(out), "config": config}, sort_keys=True, default=str)
    digest = hashlib.sha1(key.encode()).hexdigest()[:10]
    folder = os.path.join(config.get("checkpoint_dir") or "saved", "benchmark-resume")
    return os.path.join(folder, f"{label}-{dataset}-seed{seed}-{digest}.resume.pth")


def run_cell(label, dataset, seed, out, overrides, protocols):
    """Train/test one cell in this process and write its JSON (called in a child process). An LLM cell that was
    killed continues from its last resume point (every finished epoch of phases 0-2) when run again."""
    from recbole_ilm.evaluate import evaluate_checkpoint
    from recbole_ilm.experiments.cell_stats import cell_stats, machine
    from recbole_ilm.quick_start import run_recbole_ilm
    from recbole_ilm.trained_baselines import recbole_model_class, store_trained

    model, extra = resolve(label)
    config = {**overrides, **extra, "seed": seed, "show_progress": False}  # a variant's own keys win
    resumed = resume_path = None
    if model in LLM_MODELS and not config.get("resume"):
        resume_path = cell_resume_path(out, dataset, label, seed, config)
        if os.path.isfile(resume_path):
            with open(resume_path + ".json") as f:
                resumed = json.load(f)  # {"phase", "epoch"}: the wall time below is the resumed part's only
            config = {**config, "resume": resume_path}
        else:
            config = {**config, "resume_file": resume_path}
    start = time.time()
    result = run_recbole_ilm(model=model, dataset=dataset, config_dict=config, after_test=cell_stats)
    stats = result["after_test"]
    if abs(stats["ndcg@10"] - float(result["test_result"]["ndcg@10"])) > 1e-3:  # the timed pass is the same test
        raise RuntimeError(f"timed test pass NDCG@10 {stats['ndcg@10']:.4f} != RecBole's "
                           f"{float(result['test_result']['ndcg@10']):.4f}")
    record = {"stats": stats, "model": label, "dataset": dataset, "seed": seed, "config": config,
              "test": {k: float(v) for k, v in result["test_result"].items()},
              "valid": {k: float(v) for k, v in (result["best_valid_result"] or {}).items()},
              "train_and_test_seconds": round(time.time() - start, 1),
              "throughput": {str(k): v for k, v in (result.get("throughput") or {}).items()},
              "machine": machine(), "checkpoint": result["saved_model_file"]}
    if resumed:
        record["resumed_after"] = resumed
    if result["saved_model_file"] and recbole_model_class(model) is not None:  # e.g. SASRec: reusable by name
        store_trained(result["saved_model_file"], {k: record[k] for k in ("valid", "test")} |
                      {"seconds": record["train_and_test_seconds"]})
    if model in LLM_MODELS and protocols:
        modes = sorted({p.split(":")[0] for p in protocols})
        templates = sorted({p.split(":")[1] for p in protocols})
        extra_results = evaluate_checkpoint(result["saved_model_file"], modes, templates)
        record["protocols"] = {f"{m}:{t}": {k: float(v) for k, v in r.items()}
                               for (m, t), r in extra_results.items() if f"{m}:{t}" in protocols}
    path = cell_path(out, dataset, label, seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(record, f, indent=1)
    os.replace(path + ".tmp", path)
    if resume_path:  # the cell is done: its resume point is not needed any more
        for leftover in (resume_path, resume_path + ".json"):
            if os.path.exists(leftover):
                os.remove(leftover)


def mean_se(values):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def fmt(values):
    mean, se = mean_se(values)
    return f"{mean:.4f}" if se is None else f"{mean:.4f} ± {se:.4f}"


def popularity(cells):
    """Mean NDCG@10 of the test rows whose target is in the bottom / middle / top third by training count."""
    if not all("stats" in c for c in cells):
        return "—"
    return " / ".join(f"{sum(c['stats']['ndcg@10_by_popularity'][b]['ndcg'] for c in cells) / len(cells):.4f}"
                      for b in ("bottom", "middle", "top"))


def seen(cells):
    """Training examples seen (mean over seeds; per phase for the plugin's models: p0 + p1 pairs + p2)."""
    if not all("stats" in c for c in cells):
        return "—"
    phases = sorted({p for c in cells for p in c["stats"]["examples_seen"]})
    mean = {p: sum(c["stats"]["examples_seen"].get(p, 0) for c in cells) / len(cells) for p in phases}
    return " + ".join(f"{p.replace('phase', 'p')} {mean[p] / 1e3:.0f}k" if p != "train" else f"{mean[p] / 1e3:.0f}k"
                      for p in phases)


def eval_seconds(cells):
    if not all("stats" in c for c in cells):
        return "—"
    return f"{sum(c['stats']['test_eval_seconds'] for c in cells) / len(cells):.2f}"


def with_finished(out, datasets, labels, seeds):
    """The datasets, labels and seeds to report: the ones asked for, then those of every other finished cell in
    ``out`` (sorted), so a run that adds one model to a folder does not drop the folder's other rows."""
    datasets, labels, seeds = list(datasets), list(labels), list(seeds)
    root = os.path.join(out, "cells")
    folders = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))) if os.path.isdir(root) else []
    for dataset in folders:
        for name in sorted(os.listdir(os.path.join(root, dataset))):
            label, sep, seed = name[:-len(".json")].rpartition("-seed") if name.endswith(".json") else ("", "", "")
            if not (sep and seed.isdigit()):
                continue
            for found, kept in ((dataset, datasets), (label, labels), (int(seed), seeds)):
                if found not in kept:
                    kept.append(found)
    return datasets, labels, seeds


def collect(out, dataset, labels, seeds):
    rows = {}
    for label in labels:
        cells = []
        for seed in seeds:
            path = cell_path(out, dataset, label, seed)
            if os.path.isfile(path):
                with open(path) as f:
                    cells.append(json.load(f))
        if cells:
            rows[label] = cells
    return rows


def machines(cells):
    """The machines the cells ran on (CPU, its kernels' instruction set, GPU), for the report's header."""
    found = {f"{m['cpu']} ({m['cpu_capability']}" + (f", {m['gpu']})" if m["gpu"] else ")")
             for c in cells if (m := c.get("machine"))}
    if not found:
        return "Cells record no machine (run before it was kept)."
    return f"Cells ran on: {'; '.join(sorted(found))}."


def markdown(out, datasets, labels, seeds):
    cells = [c for d in datasets for row in collect(out, d, labels, seeds).values() for c in row]
    lines = [f"Machine: {platform.platform()}, Python {platform.python_version()}; seeds {seeds}.", machines(cells), ""]
    for dataset in datasets:
        rows = collect(out, dataset, labels, seeds)
        if not rows:
            continue
        lines += [f"### {dataset} (test, full ranking, mean ± s.e. over seeds)", "",
                  "| model | seeds | " + " | ".join(METRICS) + " | NDCG@10 by target popularity (bottom / middle / top "
                  "third) | time/run (s) | examples seen | test eval (s) |",
                  "|---" * (len(METRICS) + 6) + "|"]
        for label, cells in rows.items():
            metrics = " | ".join(fmt([c["test"][m] for c in cells]) for m in METRICS)
            seconds = sum(c["train_and_test_seconds"] for c in cells) / len(cells)
            lines.append(f"| {label} | {len(cells)} | {metrics} | {popularity(cells)} | {seconds:.0f} | "
                         f"{seen(cells)} | {eval_seconds(cells)} |")
        protocol_rows = [(label, p, [c["protocols"][p] for c in cells if p in c.get("protocols", {})])
                         for label, cells in rows.items() for p in sorted(cells[0].get("protocols", {}))]
        if protocol_rows:
            lines += ["", f"Other protocols on {dataset} (test):", "",
                      "| model | protocol | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 2) + "|"]
            for label, protocol, results in protocol_rows:
                lines.append(f"| {label} | {protocol} | " + " | ".join(fmt([r[m] for r in results]) for m in METRICS)
                             + " |")
        lines.append("")
    return "\n".join(lines)


def chart(out, datasets, labels, seeds, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        rows = collect(out, dataset, labels, seeds)
        names = list(rows)
        for k, metric in enumerate(("ndcg@10", "hit@10")):
            stats = [mean_se([c["test"][metric] for c in rows[n]]) for n in names]
            xs = [i + (k - 0.5) * 0.38 for i in range(len(names))]
            ax.bar(xs, [m for m, _ in stats], width=0.38, yerr=[se or 0 for _, se in stats], label=metric)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=30, ha="right")
        ax.set_title(dataset)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description="recbole-ilm benchmark harness")
    parser.add_argument("--models", default="SASRec,GRU4Rec,BERT4Rec,BackboneOnly,MLPAdapter,ILM-rand,ILM")
    parser.add_argument("--datasets", default="ml-100k")
    parser.add_argument("--seeds", default="2020")
    parser.add_argument("--out", default="docs/benchmark")
    parser.add_argument("--protocols", default="full_sort:unseen,beam:seen,beam_constrained:seen",
                        help="extra test protocols for the LLM models (mode:template, comma list)")
    parser.add_argument("--set", action="append",
                        help="key=value override for every cell, or Label:key=value for one model label")
    parser.add_argument("--smoke", action="store_true", help="tiny settings: tests the harness in minutes")
    parser.add_argument("--report", action="store_true",
                        help="run nothing: write the table and chart of every finished cell in --out")
    parser.add_argument("--cell", nargs=3, metavar=("MODEL", "DATASET", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    protocols = [p for p in args.protocols.split(",") if p]
    if args.cell:
        overrides = {**(SMOKE if args.smoke else {}), **parse_set(args.set, args.cell[0])}
        cli.recbole_sees()  # keep RecBole's Config from reading our flags
        run_cell(args.cell[0], args.cell[1], int(args.cell[2]), args.out, overrides, protocols)
        return 0
    labels, datasets = args.models.split(","), args.datasets.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    for dataset in datasets if not args.report else ():
        for label in labels:
            for seed in seeds:
                if os.path.isfile(cell_path(args.out, dataset, label, seed)):
                    print(f"[done] {dataset} {label} seed {seed}")
                    continue
                print(f"[run ] {dataset} {label} seed {seed}", flush=True)
                cmd = [sys.executable, "-m", "recbole_ilm.experiments.benchmark", "--cell", label, dataset, str(seed),
                       "--out", args.out, "--protocols", ",".join(protocols)]
                cmd += (["--smoke"] if args.smoke else []) + sum((["--set", s] for s in args.set or []), [])
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
                    print(f"[fail] {dataset} {label} seed {seed}:\n{tail}", file=sys.stderr)
    datasets, labels, seeds = with_finished(args.out, datasets, labels, seeds)
    table = markdown(args.out, datasets, labels, seeds)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(table)
    try:
        chart(args.out, datasets, labels, seeds, os.path.join(args.out, "chart.png"))
    except ImportError:  # matplotlib is an extra (pip install recbole-ilm[bench]); the table is the result
        print("no chart: matplotlib is not installed (pip install matplotlib)", file=sys.stderr)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
