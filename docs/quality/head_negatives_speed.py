"""Phase-2 training speed of the item-token head: whole-catalogue cross-entropy vs ``item_head_negatives``, in one
process on the same batches (so the two numbers share the machine and its load).

    python docs/quality/head_negatives_speed.py -d amazon-beauty --set data_path=../shared/datasets \
        --negatives 0,1024 --steps 20

Prints prompts/s of forward + backward + AdamW step for each setting (a random-weight model: speed does not depend
on the weights; the first 3 steps of each setting are warm-up and not timed).
"""

import argparse
import time

import torch

import recbole_ilm  # noqa: F401  (RecBole compatibility fixes before RecBole is used)
from recbole.utils import init_seed

from recbole_ilm.config import Config
from recbole_ilm.data.dataset import create_dataset, data_preparation
from recbole_ilm.experiments.common import parse_set
from recbole_ilm.lookup import get_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-d", "--dataset", default="ml-100k")
    parser.add_argument("--variant_model", default="ILM")
    parser.add_argument("--negatives", default="0,1024", help="comma list of item_head_negatives settings")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per setting")
    parser.add_argument("--set", action="append", help="key=value config override (repeatable)")
    args = parser.parse_args()
    overrides = {"retrieval_head": "item_tokens", "phase1_epochs": 0, "show_progress": False, **parse_set(args.set)}
    config = Config(model=args.variant_model, dataset=args.dataset, config_dict=overrides)
    init_seed(config["seed"], config["reproducibility"])
    train, _, _ = data_preparation(config, create_dataset(config))
    model = get_model(config["model"])(config, train._dataset)
    model.set_phase(2)
    model.train()
    train.with_slots = True
    batches = []
    for batch in train:
        batches.append(batch)
        if len(batches) == args.steps + 3:
            break
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-3)
    print(f"{args.dataset}: {model.cf_item.shape[0] - 1} items, batches of {len(batches[0])} prompts, "
          f"{torch.get_num_threads()} threads")
    for negatives in [int(k) for k in args.negatives.split(",")]:
        config["item_head_negatives"] = negatives
        torch.manual_seed(0)
        for k, batch in enumerate(batches):
            if k == 3:
                start, prompts = time.perf_counter(), 0
            loss = model.calculate_loss(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if k >= 3:
                prompts += len(batch)
        seconds = time.perf_counter() - start
        print(f"item_head_negatives={negatives}: {prompts / seconds:.1f} prompts/s ({seconds:.1f} s for "
              f"{args.steps} steps)")


if __name__ == "__main__":
    main()
