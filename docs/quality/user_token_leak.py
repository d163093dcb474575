"""How much of a row's own target the CF vector behind the prompt's user tokens carries (``user_tokens``).

    python docs/quality/user_token_leak.py -d amazon-beauty --set data_path=../shared/datasets \
        [--set cf_source=checkpoint --set cf_checkpoint=<SASRec .pth, or SASRec>] [--set ilm_cache_dir=...]

The user tokens are the Q-Former's encoding of one CF vector per prompt. ``user_tokens: table`` takes the user's row
of the CF user table, which is fitted on (iALS) or averaged over (a checkpoint without a user table) all of the
user's training items, so on a training row it already holds that row's target and the items after it; at test time
it holds no test target. ``history`` takes the mean of the row's own history items, the same kind of vector at
training and at test; ``full_history`` the mean over all of the user's items before the row's target (the history
RecBole cut at ``MAX_ITEM_LIST_LENGTH`` included); ``fold_in`` iALS's own user solve on those items (iALS only). No
model is trained here: every item is scored by its dot product with that vector alone, the
row's history items masked, and the script prints hit@10, NDCG@10 and the target's median rank for the training
rows and for the test rows, per mode. A gap between training and test rows that ``history`` does not have is what
phase 2 can learn from the table's vectors and not use at test.
"""

import argparse

import numpy as np
import torch

import recbole_ilm  # noqa: F401  (RecBole compatibility fixes before RecBole is used)
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_ilm.cf import get_cf_embeddings, normalised_table, prefix_sums
from recbole_ilm.config import Config
from recbole_ilm.data.history import history_offsets, training_sequences
from recbole_ilm.experiments.common import parse_set
from recbole_ilm.retrieval.user_tokens import fold_in_map
from recbole_ilm.trained_baselines import resolve_named_checkpoints


def target_ranks(vectors, items, seq, targets, batch=2048):
    """0-based rank of each row's target among all items (row 0 padding and the row's history items masked; ties
    counted against the target) when scored by ``vectors @ items.T``."""
    out = []
    for start in range(0, len(vectors), batch):
        rows = slice(start, start + batch)
        scores = vectors[rows] @ items.T
        scores[:, 0] = -np.inf
        np.put_along_axis(scores, seq[rows], -np.inf, axis=1)  # history items (padding 0 is masked anyway)
        target = np.take_along_axis(scores, targets[rows, None], axis=1)
        out.append((scores >= target).sum(1) - 1)
    return np.concatenate(out)


def summary(ranks):
    hit = ranks < 10
    return {"rows": len(ranks), "hit@10": round(float(hit.mean()), 4),
            "ndcg@10": round(float(np.where(hit, 1 / np.log2(ranks + 2), 0).mean()), 4),
            "median rank": int(np.median(ranks))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-d", "--dataset", default="ml-100k")
    parser.add_argument("--set", action="append", help="key=value config override (repeatable)")
    args = parser.parse_args()
    config = Config(model="ILM", dataset=args.dataset, config_dict={"show_progress": False, **parse_set(args.set)})
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    resolve_named_checkpoints(config, dataset)  # cf_checkpoint: SASRec -> its cached checkpoint, as a run reads it
    train, valid, test = data_preparation(config, dataset)
    raw_users, raw_items = get_cf_embeddings(config, train._dataset)
    users, items = normalised_table(raw_users).numpy(), normalised_table(raw_items).numpy()
    solve = fold_in_map(config, raw_users, raw_items).numpy() if (config["cf_source"] or "ials") == "ials" else None
    print(f"{args.dataset}, cf_source {config['cf_source'] or 'ials'}, {items.shape[0] - 1} items")
    offsets = history_offsets(config, train._dataset, valid._dataset, test._dataset)
    prefix = prefix_sums(torch.as_tensor(items), *training_sequences(config, train._dataset)).numpy()
    start = training_sequences(config, train._dataset)[1][:-1] + np.arange(train._dataset.user_num)
    for split, data, offset in (("training rows", train._dataset, offsets[0]), ("test rows", test._dataset, offsets[2])):
        feat = data.inter_feat
        seq, length = feat["item_id_list"].numpy(), feat["item_length"].numpy()
        targets, user = feat["item_id"].numpy(), feat["user_id"].numpy()
        real = (seq > 0)[..., None]
        window = (items[seq] * real).sum(1)
        history = window / np.maximum(length, 1)[:, None]
        full = (window + prefix[start[user] + offset]) / np.maximum(length + offset, 1)[:, None]
        print(f"  {split}: {int((offset > 0).sum())} of {len(offset)} rows cut at MAX_ITEM_LIST_LENGTH")
        past = window + prefix[start[user] + offset]
        modes = [("table", users[user]), ("history", history), ("full_history", full)]
        modes += [] if solve is None else [("fold_in", past @ solve.T)]
        for mode, vectors in modes:
            print(f"  {split:13s} user_tokens: {mode:12s} {summary(target_ranks(vectors, items, seq, targets))}")


if __name__ == "__main__":
    with torch.no_grad():
        main()
