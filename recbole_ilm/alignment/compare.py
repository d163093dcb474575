"""Phase 1 alone, for several loss sets: held-out item->text recall and ITG train/eval losses side by side.

    python -m recbole_ilm.alignment.compare -d ml-100k --variants IT,IT-II,IT-UI --out docs/alignment

Each variant builds the model on the run's training split (iALS, Q-Former, text tower), trains phase 1 only and
records the per-epoch history (the same numbers phase 1 logs in a full run). Writes ``<out>/<dataset>.json`` and
``<out>/<dataset>.md``.
"""

import argparse
import json
import os
import sys
import time

VARIANTS = {"IT": ["itc", "itg", "itm"], "IT-II": ["itc", "itg", "itm", "iic"], "IT-UI": ["itc", "itg", "itm", "uic"],
            "IT-II-UI": ["itc", "itg", "itm", "iic", "uic"]}
COLUMNS = ("recall@1", "recall@10", "chance@10", "itg_train", "itg_eval")


def run_variant(dataset, losses, overrides):
    from recbole.utils import init_seed

    from recbole_ilm.config import Config
    from recbole_ilm.data.dataset import create_dataset, data_preparation
    from recbole_ilm.trainer.phase1 import AlignmentTrainer
    from recbole_ilm.utils import get_model

    config = Config(model="ILM", dataset=dataset, config_dict={**overrides, "phase1_losses": losses})
    init_seed(config["seed"], config["reproducibility"])
    train, _, _ = data_preparation(config, create_dataset(config))
    init_seed(config["seed"], config["reproducibility"])
    model = get_model("ILM")(config, train._dataset)
    start = time.time()
    history = AlignmentTrainer(config, model, train._dataset).fit()
    return {"losses": losses, "history": history, "seconds": round(time.time() - start, 1),
            "seed": config["seed"]}


def table(results):
    lines = ["| variant | losses | " + " | ".join(COLUMNS) + " | phase-1 s |", "|---" * (len(COLUMNS) + 3) + "|"]
    for name, r in results.items():
        last = r["history"][-1]
        cells = " | ".join(f"{last[c]:.4f}" for c in COLUMNS)
        lines.append(f"| {name} | {'+'.join(r['losses'])} | {cells} | {r['seconds']} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-d", "--dataset", default="ml-100k")
    parser.add_argument("--variants", default="IT,IT-II,IT-UI")
    parser.add_argument("--out", default="docs/alignment")
    parser.add_argument("--set", action="append", help="key=value config override")
    args = parser.parse_args(argv)
    sys.argv = sys.argv[:1]
    from recbole_ilm.utils import parse_set

    overrides = {"show_progress": False, **parse_set(args.set)}
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        parser.error(f"--variants: unknown {unknown}; choose from {sorted(VARIANTS)}")
    results = {}
    for name in args.variants.split(","):
        results[name] = run_variant(args.dataset, VARIANTS[name], overrides)
        print(f"{name}: {results[name]['history'][-1]}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.dataset}.json"), "w") as f:
        json.dump({"dataset": args.dataset, "overrides": overrides, "results": results}, f, indent=1)
    with open(os.path.join(args.out, f"{args.dataset}.md"), "w") as f:
        f.write(table(results) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
