"""NDCG@10 of benchmark cells (or fusion JSONs) split by the test user's history length.

    python docs/quality/by_history.py -d amazon-beauty --set data_path=../shared/datasets \
        NAME=path/to/cell.json NAME=path/to/fusion.json ...

Every cell of one dataset and protocol ranks the same test rows in the same order (``test_targets``); this reads the
test split's ``item_length`` in that order (the check: its targets equal each file's) and prints, per history-length
bucket, the number of rows and each file's mean NDCG@10 there, then each file's ratio to the first one.
"""

import argparse
import json
import sys

import numpy as np

import recbole_ilm  # noqa: F401  (RecBole compatibility fixes before RecBole is used)
from recbole_ilm.config import Config
from recbole_ilm.data.dataset import create_dataset, data_preparation
from recbole_ilm.experiments.cell_stats import ndcg_at
from recbole_ilm.experiments.common import parse_set

BUCKETS = ((1, 4), (5, 5), (6, 7), (8, 10), (11, 19), (20, 10**6))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-d", "--dataset", default="ml-100k")
    parser.add_argument("--set", action="append", help="key=value config override (repeatable)")
    parser.add_argument("files", nargs="+", help="NAME=cell or fusion JSON with test_ranks and test_targets")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # RecBole's Config also reads --key=value from the command line
    config = Config(model="BackboneOnly", dataset=args.dataset,
                    config_dict={"show_progress": False, **parse_set(args.set)})
    _, _, test = data_preparation(config, create_dataset(config))
    lengths = test._dataset.inter_feat["item_length"].numpy()
    targets = test._dataset.inter_feat[config["ITEM_ID_FIELD"]].numpy()
    gains = {}
    for spec in args.files:
        name, path = spec.split("=", 1)
        with open(path) as f:
            record = json.load(f)
        record = record.get("stats", record)
        if not np.array_equal(np.asarray(record["test_targets"]), targets):
            raise SystemExit(f"{path}: its test rows are not this split's (another dataset config?)")
        gains[name] = ndcg_at(record["test_ranks"])
    masks = [(lengths >= lo) & (lengths <= hi) for lo, hi in BUCKETS]
    label = [f"{lo}-{hi}" if hi < 10**6 else f"{lo}+" for lo, hi in BUCKETS]
    print(f"{'history length':<24}{'all':>8}" + "".join(f"{b:>8}" for b in label))
    print(f"{'test rows':<24}{len(lengths):>8}" + "".join(f"{int(m.sum()):>8}" for m in masks))
    first = next(iter(gains))
    for name, g in gains.items():
        print(f"{name:<24}{g.mean():>8.4f}" + "".join(f"{g[m].mean():>8.4f}" for m in masks))
    for name, g in list(gains.items())[1:]:
        ratio = [g[m].mean() / max(gains[first][m].mean(), 1e-12) for m in masks]
        overall = g.mean() / gains[first].mean()
        print(f"{name + ' / ' + first:<24}{overall:>8.2f}" + "".join(f"{r:>8.2f}" for r in ratio))


if __name__ == "__main__":
    main()
