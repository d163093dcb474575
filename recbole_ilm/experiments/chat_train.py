"""Train and compare item encoders for a frozen chat LLM on the item-grounded text tasks.

    python -m recbole_ilm.experiments.chat_train -d ml-100k --models ILM,ILM-rand,MLPAdapter --steps 150 \
        --retrieval_checkpoint saved/ILM-ml-100k-phase2-....pth --out docs/conversation/ml-100k

For each model: phase 1 (ILM only, as in retrieval), then phase 2 on the text tasks of the training items with the
LLM frozen; then log-perplexity, Semantic Consistency and factual accuracy per task on the test items
(:mod:`recbole_ilm.experiments.chat_eval`; answers decoded as ``--decoding`` says). ``--checkpoint`` scores a saved
chat model instead of training one. Writes ``results.json``,
``table.md`` and one ``chat-<model>-<dataset>.pth`` (item encoder only + plain config + the retrieval checkpoint
used for chat).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from recbole_ilm import cli
from recbole_ilm.experiments.common import parse_set
from recbole_ilm.variants import resolve_variant
from recbole_ilm.chat.decoding import add_arguments as add_decoding_arguments
from recbole_ilm.chat.decoding import from_arguments as decoding_from_arguments
from recbole_ilm.chat.tasks import TaskWriter, item_facts, make_examples, split_items
from recbole_ilm.experiments.chat_eval import evaluate_chat, load_and_evaluate, scored_items, table

MODELS = ("ILM", "MLPAdapter")  # item encoders a chat LLM can read (models with item tokens)


def build(label, dataset, overrides):
    from recbole.utils import init_seed

    from recbole_ilm.config import Config
    from recbole_ilm.data.dataset import create_dataset, data_preparation
    from recbole_ilm.lookup import get_model

    model_name, extra = resolve_variant(label, models=MODELS)
    config = Config(model=model_name, dataset=dataset, config_dict={"llm_path": "smollm2", **overrides, **extra})
    init_seed(config["seed"], config["reproducibility"])
    data = create_dataset(config)
    train, _, _ = data_preparation(config, data)
    init_seed(config["seed"], config["reproducibility"])
    return config, train._dataset, get_model(model_name)(config, train._dataset)


def train_chat(label, dataset, overrides, steps, batch_size, lr, log=print):
    """Phase 1 (ILM only), then ``steps`` steps on the training items' text tasks; the LLM stays frozen."""
    from recbole_ilm.chat.model import ItemChatLM
    from recbole_ilm.trainer.alignment_trainer import AlignmentTrainer, lr_schedule

    start = time.time()
    config, train_ds, model = build(label, dataset, overrides)
    if config["model"] == "ILM" and config["phase1_epochs"] > 0:
        AlignmentTrainer(config, model.alignment_target(), train_ds).fit()
    chat = ItemChatLM(model)
    writer = TaskWriter(item_facts(train_ds, config["item_text_fields"]), config["item_noun"] or "item",
                        config["tag_noun"] or "tags", grounding=config["chat_grounding"])
    rng = np.random.default_rng(config["seed"])
    train_items, _, test_items = split_items(writer.facts, config["seed"])
    train_examples = make_examples(writer, train_items, rng)
    params = [p for p in model.item_encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    scheduler = lr_schedule(optimizer, "linear", steps, max(1, steps // 20))
    model.train()
    losses = []
    for step in range(steps):
        batch = [train_examples[i] for i in rng.choice(len(train_examples), size=batch_size, replace=False)]
        loss = chat.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if (step + 1) % max(1, steps // 5) == 0:
            log(f"  {label} step {step + 1}/{steps} loss {np.mean(losses[-20:]):.3f}")
    model.eval()
    info = {"train_examples": len(train_examples), "test_items": len(test_items),
            "first_train_loss": float(np.mean(losses[:20])) if losses else None,
            "final_train_loss": float(np.mean(losses[-20:])) if losses else None,
            "train_seconds": round(time.time() - start, 1)}
    return config, model, chat, writer, test_items, info


def train_and_evaluate(label, dataset, overrides, steps, batch_size, lr, eval_per_task, max_new_tokens, log,
                       decoding=None, eval_items="test"):
    start = time.time()
    config, model, chat, writer, test_items, info = train_chat(label, dataset, overrides, steps, batch_size, lr, log)
    items = scored_items(writer, config, eval_items)
    results = evaluate_chat(label, config, chat, writer, items, eval_per_task, max_new_tokens, log, decoding)
    info["seconds"] = round(time.time() - start, 1)
    return config, model, results, info


def save_chat_checkpoint(path, config, model, label, retrieval_checkpoint):
    from recbole_ilm.checkpoint_io import FORMAT, plain_config, write_atomic

    state = {k: v for k, v in model.state_dict().items() if not k.startswith("llm.")}  # the LLM stays as shipped
    write_atomic({"format": FORMAT, "kind": "chat", "model": config["model"], "label": label,
                  "dataset": config["dataset"], "config": plain_config(config), "state_dict": state,
                  "retrieval_checkpoint": retrieval_checkpoint}, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description="item-grounded text tasks with a frozen chat LLM")
    parser.add_argument("-d", "--dataset", default="ml-100k", help="dataset (its item text makes the tasks)")
    parser.add_argument("--models", default="ILM,ILM-rand,MLPAdapter",
                        help="comma list of item encoders: ILM, MLPAdapter or a variant (properties/variants/)")
    parser.add_argument("--steps", type=int, default=150, help="training steps on the text tasks (LLM frozen)")
    parser.add_argument("--batch_size", type=int, default=8, help="examples per training step")
    parser.add_argument("--lr", type=float, default=5e-4, help="AdamW learning rate (linear decay)")
    parser.add_argument("--eval_per_task", type=int, default=60, help="test-item examples scored per task")
    parser.add_argument("--max_new_tokens", type=int, default=48,
                        help="length limit of each generated answer (the chat's default)")
    parser.add_argument("--retrieval_checkpoint", default=None,
                        help="ILM retrieval checkpoint the chat will recommend with (stored in the chat checkpoint)")
    parser.add_argument("--checkpoint", default=None,
                        help="evaluate this saved chat checkpoint (chat-<model>-<dataset>.pth) instead of training; "
                             "--models, --steps, --batch_size, --lr and --set are then unused")
    parser.add_argument("--eval_items", choices=("test", "valid"), default="test",
                        help="items the answers are scored on: test, or validation items (to choose options on)")
    add_decoding_arguments(parser)
    parser.add_argument("--out", default="docs/conversation", help="folder for <dataset>/results.json and table.md")
    parser.add_argument("--set", action="append", help="key=value config override (repeatable)")
    args = cli.parse(parser, argv)

    overrides = {"show_progress": False, **parse_set(args.set)}
    decoding = decoding_from_arguments(args)
    log = lambda m: print(m, flush=True)  # noqa: E731
    results, info = {}, {}
    if args.checkpoint:
        config, label, result, run = load_and_evaluate(args.checkpoint, args.eval_per_task, args.max_new_tokens, log,
                                                       decoding, args.eval_items)
        results[label], info[label] = result, run
        out = os.path.join(args.out, config["dataset"])
        os.makedirs(out, exist_ok=True)
        write_results(out, args, results, info)
        print(table(results, list(results)))
        return 0
    out = os.path.join(args.out, args.dataset)
    os.makedirs(out, exist_ok=True)
    labels = args.models.split(",")
    for label in labels:
        config, model, results[label], info[label] = train_and_evaluate(
            label, args.dataset, overrides, args.steps, args.batch_size, args.lr, args.eval_per_task,
            args.max_new_tokens, log, decoding, args.eval_items)
        path = os.path.join(config["checkpoint_dir"], f"chat-{label}-{args.dataset}.pth")
        info[label]["checkpoint"] = path
        write_results(out, args, results, info)  # after each model: a later failure keeps the finished ones
        save_chat_checkpoint(path, config, model, label, args.retrieval_checkpoint)
        del model
    print(table(results, list(results)))
    return 0


def write_results(out, args, results, info):
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"args": vars(args), "results": results, "info": info}, f, indent=1)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table(results, list(results)) + "\n")


if __name__ == "__main__":
    sys.exit(main())
