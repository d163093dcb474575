"""Paired difference of test NDCG@10 between two runs on the same test rows: the ``B - A ± s.e.`` of docs/results.md.

    python -m recbole_ilm.experiments.paired A.json B.json

A and B are benchmark cells (``cells/<dataset>/<label>-seed<seed>.json``) or fusion results (``fusion --out``):
both keep the 0-based rank of every test row's target. The two files must hold the same test rows (same dataset,
split and order, checked through the targets); the standard error is that of the mean per-row difference, so two
models are compared on the same users rather than as two independent means.
"""

import argparse
import json
import math
import sys

import numpy as np

from recbole_ilm.errors import ILMConfigError
from recbole_ilm.experiments.cell_stats import ndcg_at


def test_rows(path):
    """``(ranks, targets)`` of a cell or a fusion result."""
    with open(path) as f:
        record = json.load(f)
    record = record.get("stats", record)
    if "test_ranks" not in record or "test_targets" not in record:
        raise ILMConfigError(f"{path}: no per-row test ranks (a benchmark cell or a fusion --out file has them)")
    return np.asarray(record["test_ranks"]), np.asarray(record["test_targets"])


def paired_difference(a, b, k=10):
    """``{n, a, b, diff, se}``: mean NDCG@k of each run and the mean per-row difference b - a with its s.e."""
    (ranks_a, targets_a), (ranks_b, targets_b) = a, b
    if len(targets_a) != len(targets_b) or not np.array_equal(targets_a, targets_b):
        raise ILMConfigError("the two runs do not hold the same test rows (dataset, split or row order differ): "
                             "compare runs of one dataset and protocol")
    gains_a, gains_b = ndcg_at(ranks_a, k), ndcg_at(ranks_b, k)
    diff = gains_b - gains_a
    n = len(diff)
    se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"n": n, "a": float(gains_a.mean()), "b": float(gains_b.mean()), "diff": float(diff.mean()), "se": se}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        r = paired_difference(test_rows(args.a), test_rows(args.b), args.k)
    except (ILMConfigError, OSError, ValueError) as e:
        sys.exit(f"paired: {e}")
    print(f"{r['n']} test rows: A NDCG@{args.k} {r['a']:.4f}, B {r['b']:.4f}, "
          f"B - A {r['diff']:+.4f} ± {r['se']:.4f} (paired s.e.)")


if __name__ == "__main__":
    main()
