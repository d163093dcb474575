"""Mean ± standard error over seeds of chat_train results, and paired differences between item encoders.

    python docs/conversation/seeds_table.py ml-1m docs/conversation/tokens-only-3seeds/seed2020 \
        docs/conversation/tokens-only-3seeds/seed2021 docs/conversation/tokens-only-3seeds/seed2022

Each folder holds ``<dataset>/results.json`` as ``python -m recbole_ilm.experiments.chat_train --out <folder>`` writes
it. Rows: the models of the first run; ``--task`` picks the summary row (default ``all``: the seven tasks). The
standard error is the sample standard deviation over seeds / sqrt(seeds); a paired difference is taken within each
seed (same split, same examples) before averaging.
"""

import argparse
import json
import os

from recbole_ilm.experiments.benchmark import mean_se


def column(runs, model, task, key):
    out = []
    for run in runs:
        row = run["results"][model][task]
        value = row[key] if key in ("sc", "log_pplx") else row["facts"].get(key)
        out.append(float("nan") if value is None else value)
    return out


COLUMNS = (("sc", "SC", 1, ""), ("log_pplx", "log-pplx", 1, ""), ("tag_precision", "tag P", 100, " %"),
           ("tag_recall", "tag R", 100, " %"), ("title", "title", 100, " %"))


def fmt(values, scale, unit, digits):
    m, s = mean_se([scale * v for v in values])
    return f"{m:.{digits}f}{unit}" if s is None else f"{m:.{digits}f} ± {s:.{digits}f}{unit}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("folders", nargs="+", help="one chat_train --out folder per seed")
    parser.add_argument("--task", default="all", help="summary row: all, grounded or one task")
    args = parser.parse_args()
    runs = []
    for folder in args.folders:
        with open(os.path.join(folder, args.dataset, "results.json")) as f:
            runs.append(json.load(f))
    models = list(runs[0]["results"])
    print(f"| {args.task}, {args.dataset} (mean ± s.e. over {len(runs)} seeds) | "
          + " | ".join(c[1] for c in COLUMNS) + " |")
    print("|---" * (1 + len(COLUMNS)) + "|")
    for m in models:
        cells = [fmt(column(runs, m, args.task, key), scale, unit, 3 if key == "log_pplx" else 1)
                 for key, _, scale, unit in COLUMNS]
        print(f"| {m} | " + " | ".join(cells) + " |")
    print()
    print("| difference (paired within a seed) | SC | log-pplx (lower is better) | tag P |")
    print("|---|---|---|---|")
    for i, a in enumerate(models):
        for b in models[i + 1:]:
            cells = []
            for key, digits, scale, unit in (("sc", 1, 1, ""), ("log_pplx", 3, 1, ""), ("tag_precision", 1, 100, " %")):
                diffs = [x - y for x, y in zip(column(runs, a, args.task, key), column(runs, b, args.task, key))]
                m, s = mean_se([scale * d for d in diffs])
                cells.append(f"{m:+.{digits}f}{unit}" if s is None else f"{m:+.{digits}f} ± {s:.{digits}f}{unit}")
            print(f"| {a} − {b} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
