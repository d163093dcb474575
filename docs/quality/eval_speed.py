"""Wall time of one full-ranking test pass over all test users, repeated, for one model (variant or RecBole model).

    python docs/quality/eval_speed.py -m SASRec -d ml-1m --set data_path=../shared/datasets --passes 5
    python docs/quality/eval_speed.py -m ILM-rand-hybrid-add-distill -d ml-1m --passes 5 --set data_path=... \
        --set backbone_epochs=12 --set ilm_cache_dir=<folder with the cached backbone> --set eval_batch_size=64

No training (``epochs=0``; a frozen-LLM model loads its cached phase-0 backbone): the cost of a pass does not depend
on the trained weights. Each pass goes through RecBole's own batch step, as the benchmark's timed test pass does
(:func:`recbole_ilm.experiments.cell_stats.target_ranks`); the first pass is warm-up and not reported. Prints every
pass and the median. The box's speed drifts by +-10 % between minutes: compare models measured one after another.
"""

import argparse
import json
import statistics
import time

from recbole_ilm.experiments.benchmark import resolve
from recbole_ilm.experiments.cell_stats import ndcg_at, target_ranks
from recbole_ilm.experiments.common import parse_set
from recbole_ilm.quick_start import run_recbole_ilm


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-m", "--model", required=True, help="a variant (properties/variants/) or a model name")
    parser.add_argument("-d", "--dataset", default="ml-100k")
    parser.add_argument("--passes", type=int, default=5, help="timed passes after one warm-up pass")
    parser.add_argument("--set", action="append", help="key=value config override (repeatable)")
    args = parser.parse_args()
    model, variant = resolve(args.model)
    no_teacher = {"distill_weight": 0.0} if "distill_weight" in variant else {}  # a teacher only shapes training
    config = {"epochs": 0, "show_progress": False, **variant, **no_teacher, **parse_set(args.set)}

    def timed(trainer, train_data, test_data):
        seconds = []
        for k in range(args.passes + 1):
            start = time.time()
            ranks, _ = target_ranks(trainer, test_data)
            if k:
                seconds.append(round(time.time() - start, 3))
        return {"seconds": seconds, "median": statistics.median(seconds), "users": int(len(ranks)),
                "ndcg@10": float(ndcg_at(ranks).mean()), "eval_batch_size": trainer.config["eval_batch_size"]}

    result = run_recbole_ilm(model=model, dataset=args.dataset, config_dict=config, saved=False, after_test=timed)
    print(json.dumps({"model": args.model, "dataset": args.dataset, **result["after_test"]}))


if __name__ == "__main__":
    main()
