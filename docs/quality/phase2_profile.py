"""Where a phase-2 training step's time goes: cProfile of a few steps from a saved phase-2 checkpoint.

    python docs/quality/phase2_profile.py --checkpoint saved/ILM-amazon-beauty-phase2-<time>.pth [--steps 25] \
        [--set item_head_prompt_grad=False]

Loads the checkpoint with its own config (data, cache, ``distill_checkpoint`` teacher), then runs ``--warmup``
steps and ``--steps`` profiled steps of the trainer's phase-2 update (``calculate_loss``, backward, an Adam step at a
tiny learning rate) on its training loader; ``--set key=value`` changes the loaded config first. Prints seconds per step and the share of the main parts (backward, the
frozen LLM's forward, the item encoder, the teacher, the optimizer), then cProfile's top entries.
"""

import argparse
import cProfile
import pstats
import sys
import time

import torch

PARTS = {  # label -> function name in cProfile's table (cumulative time)
    "backward": "backward",
    "loss (forward)": "calculate_loss",
    "  frozen LLM forward": "last_hidden_state",
    "  item encoder (Q-Former)": "encode_entities",
    "  prompt embedding": "embed_prompt",
    "  teacher scores": "full_sort_predict",
    "optimizer step": "_use_grad",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--top", type=int, default=30, help="cProfile entries to print")
    parser.add_argument("--set", action="append", help="key=value applied to the checkpoint's config (repeatable)")
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # RecBole's Config reads sys.argv

    from recbole_ilm.experiments.common import parse_set
    from recbole_ilm.quick_start import load_data_and_model
    from recbole_ilm.retrieval.distill import load_teacher

    config, model, _, train, _, _ = load_data_and_model(args.checkpoint)
    for key, value in parse_set(args.set).items():
        config[key] = value
    model.set_teacher(load_teacher(config, train.dataset))
    model.set_phase(2)
    model.train()
    if hasattr(train, "with_slots"):
        train.with_slots = model.uses_item_slots
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-8)
    batches = iter(train)

    def steps(n):
        for _ in range(n):
            loss = model.calculate_loss(next(batches))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    steps(args.warmup)
    profile = cProfile.Profile()
    start = time.time()
    profile.enable()
    steps(args.steps)
    profile.disable()
    seconds = time.time() - start
    print(f"{args.steps} steps of {config['train_batch_size']} rows: {seconds:.2f} s, "
          f"{seconds / args.steps * 1000:.0f} ms per step (torch threads {torch.get_num_threads()})")
    stats = pstats.Stats(profile)
    cumulative = {}
    for (_, _, name), (_, _, _, cum, _) in stats.stats.items():
        cumulative[name] = max(cumulative.get(name, 0.0), cum)
    for label, name in PARTS.items():
        print(f"{label:<28} {cumulative.get(name, 0.0):6.2f} s  {100 * cumulative.get(name, 0.0) / seconds:5.1f} %")
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
