"""Phase 1 alone, for several loss sets: held-out item->text recall and ITG train/eval losses side by side.

    python -m recbole_ilm.experiments.alignment_compare -d ml-100k --variants ILM-IT,ILM-IT-II,ILM-IT-UI \
        --out docs/alignment

Variants are the YAML files of ``properties/variants/`` (their ``phase1_losses`` etc.). Each variant builds the model on the run's training split (iALS, Q-Former, text tower), trains phase 1 only and
records the per-epoch history (the same numbers phase 1 logs in a full run). Writes ``<out>/<dataset>.json`` and
``<out>/<dataset>.md``.
"""

import argparse
import json
import os
import sys
import time

from recbole_ilm import cli
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.experiments.common import parse_set
from recbole_ilm.variants import resolve_variant

COLUMNS = ("recall@1", "recall@10", "chance@10", "itm_acc", "itg_train", "itg_eval")


def run_variant(dataset, variant, overrides):
    """Phase 1 alone for one variant (a name in properties/variants/ whose model is ILM)."""
    from recbole.utils import init_seed

    from recbole_ilm.config import Config
    from recbole_ilm.data.dataset import create_dataset, data_preparation
    from recbole_ilm.trainer.alignment_trainer import AlignmentTrainer
    from recbole_ilm.lookup import get_model

    model_name, options = resolve_variant(variant)
    if model_name != "ILM":
        raise ILMConfigError(f"--variants: '{variant}' is a {model_name} variant; phase 1 exists only for ILM")
    config = Config(model="ILM", dataset=dataset, config_dict={**overrides, **options})
    losses = list(config["phase1_losses"])
    init_seed(config["seed"], config["reproducibility"])
    train, _, _ = data_preparation(config, create_dataset(config))
    init_seed(config["seed"], config["reproducibility"])
    model = get_model("ILM")(config, train._dataset)
    start = time.time()
    history = AlignmentTrainer(config, model.alignment_target(), train._dataset).fit()
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
    parser.add_argument("--variants", default="ILM-IT,ILM-IT-II,ILM-IT-UI",
                        help="comma list of variant names (properties/variants/*.yaml)")
    parser.add_argument("--out", default="docs/alignment")
    parser.add_argument("--set", action="append", help="key=value config override")
    args = cli.parse(parser, argv)

    overrides = {"show_progress": False, **parse_set(args.set)}
    return cli.run(compare, args.dataset, args.variants.split(","), overrides, args.out)


def compare(dataset, variants, overrides, out):
    results = {}
    for name in variants:
        results[name] = run_variant(dataset, name, overrides)
        print(f"{name}: {results[name]['history'][-1]}", flush=True)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"{dataset}.json"), "w") as f:
        json.dump({"dataset": dataset, "overrides": overrides, "results": results}, f, indent=1)
    with open(os.path.join(out, f"{dataset}.md"), "w") as f:
        f.write(table(results) + "\n")
    print(table(results))


if __name__ == "__main__":
    sys.exit(main())
