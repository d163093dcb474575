"""How much of a distillation teacher's distribution the item-token head's sampled columns see.

    python docs/quality/teacher_columns.py -d amazon-beauty --set data_path=../shared/datasets \
        --set item_indexing=text --teacher /work/ckpt/GRU4Rec-amazon-beauty-seed2020.pth --negatives 1024 --top 20

With ``item_head_negatives: K`` phase 2 distils the teacher only over the batch's targets and K uniformly drawn
items (``distill_top_items: M`` adds each row's M best items by the teacher). For the first ``--batches`` training
batches this prints, averaged over rows: the teacher's softmax mass (T = 1, whole catalogue) on its own top M, on
the uniform columns, and on the columns with the top M added; and where the teacher's top 10 items lie by
popularity (thirds of the rows' targets by their training count), i.e. whether the teacher recommends the tail.
"""

import argparse

import numpy as np
import torch

import recbole_ilm  # noqa: F401  (RecBole compatibility fixes before RecBole is used)
from recbole.utils import init_seed

from recbole_ilm.config import Config
from recbole_ilm.data.dataset import create_dataset, data_preparation
from recbole_ilm.experiments.common import parse_set
from recbole_ilm.retrieval.distill import load_teacher, with_teacher_picks


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-d", "--dataset", default="ml-100k")
    parser.add_argument("--teacher", required=True, help="a RecBole sequential checkpoint of this dataset")
    parser.add_argument("--negatives", type=int, default=1024)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--set", action="append", help="key=value config override (repeatable)")
    args = parser.parse_args()
    overrides = {"retrieval_head": "item_tokens", "distill_checkpoint": args.teacher, "distill_weight": 1.0,
                 "show_progress": False, **parse_set(args.set)}
    config = Config(model="ILM", dataset=args.dataset, config_dict=overrides)
    init_seed(config["seed"], config["reproducibility"])
    train, _, _ = data_preparation(config, create_dataset(config))
    teacher = load_teacher(config, train._dataset)
    item_field = config["ITEM_ID_FIELD"]
    count = np.bincount(train._dataset.inter_feat[item_field].numpy(), minlength=train._dataset.item_num)
    n = train._dataset.item_num - 1
    torch.manual_seed(0)
    sums, rows, top10_counts, targets = np.zeros(3), 0, [], []
    for k, batch in enumerate(train):
        if k == args.batches:
            break
        with torch.no_grad():
            p = torch.softmax(teacher.full_sort_predict(batch).view(len(batch), -1)[:, 1:].float(), dim=1)
        target = batch[item_field]
        top = p.topk(args.top, dim=1).indices  # 0-based columns of items 1..n
        uniform = torch.unique(torch.cat([target, torch.randint(1, n + 1, (args.negatives,))]))  # head_candidates
        both, _ = with_teacher_picks(uniform, torch.cat([torch.zeros(len(p), 1), p], dim=1), args.top)
        sums += [float(p.gather(1, top).sum(1).sum()), float(p[:, uniform - 1].sum(1).sum()),
                 float(p[:, both - 1].sum(1).sum())]
        rows += len(batch)
        top10_counts.append(count[top[:, :10].numpy() + 1].ravel())
        targets.append(count[target.numpy()])
    low, high = np.quantile(np.concatenate(targets), [1 / 3, 2 / 3])
    top10 = np.concatenate(top10_counts)
    shares = [np.mean(top10 <= low), np.mean((top10 > low) & (top10 <= high)), np.mean(top10 > high)]
    mass = sums / rows
    print(f"{args.dataset}: {n} items, {rows} training rows ({args.batches} batches); teacher {args.teacher}")
    print(f"teacher softmax mass on its own top {args.top}: {mass[0]:.3f}; on the targets + {args.negatives} "
          f"uniform columns: {mass[1]:.3f}; with each row's top {args.top} added: {mass[2]:.3f}")
    print(f"the teacher's top-10 items by the targets' popularity thirds (training count <= {low:.0f} / "
          f"<= {high:.0f} / above): {shares[0]:.3f} / {shares[1]:.3f} / {shares[2]:.3f}")


if __name__ == "__main__":
    main()
