"""What a benchmark cell reports beside RecBole's metrics: examples seen in training, the evaluation time of all
test users and NDCG@10 by target popularity.

One timed full-ranking pass over the test users, through RecBole's own batch step (``_full_sort_batch_eval``:
padding and the user's training history masked), so plugin and RecBole models are scored alike. Test targets are
split into thirds by their training count (bottom / middle / top), CoLLM's warm/cold view.
"""

import time

import numpy as np
import torch

from recbole_ilm.data.dataloader import in_row_order
from recbole_ilm.retrieval.score_fusion import training_counts


@torch.no_grad()
def target_ranks(trainer, test_data):
    """``(ranks, targets)``: 0-based rank of each test target among all items (ties counted against it), and the
    target item ids, one row per test interaction."""
    trainer.model.eval()
    trainer.tot_item_num = test_data._dataset.item_num
    trainer.item_tensor = test_data._dataset.get_item_feature().to(trainer.device)
    ranks, targets = [], []
    for batched in test_data:
        _, scores, positive_u, positive_i = trainer._full_sort_batch_eval(batched)
        ranks.append(ranks_of_targets(scores, positive_u, positive_i).cpu())
        targets.append(positive_i.cpu())
    return in_row_order(test_data, torch.cat(ranks).numpy()), in_row_order(test_data, torch.cat(targets).numpy())


def ranks_of_targets(scores, positive_u, positive_i):
    """0-based rank of each target among its row's scores, ties counted against it."""
    target = scores[positive_u, positive_i]
    return (scores[positive_u] >= target.unsqueeze(1)).sum(dim=1) - 1


def masked_target_ranks(scores, history_index, positive_u, positive_i):
    """:func:`ranks_of_targets` after RecBole's full-sort masking, in place: column 0 (padding) and each user's
    training history (``history_index`` from a full-sort eval loader, or None) set to -inf."""
    scores[:, 0] = -np.inf
    if history_index is not None:
        scores[history_index] = -np.inf
    return ranks_of_targets(scores, positive_u, positive_i)


def ndcg_at(ranks, k=10):
    """NDCG@k of one relevant item per row from its 0-based rank."""
    ranks = np.asarray(ranks)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def popularity_thirds(train_dataset, targets):
    """Index arrays of the test rows whose target is in the bottom / middle / top third by training count, and
    each third's training-count range."""
    counts = training_counts(train_dataset)[targets]
    order = np.argsort(counts, kind="stable")
    thirds = np.array_split(order, 3)
    return {name: (rows, (int(counts[rows].min()), int(counts[rows].max())))
            for name, rows in zip(("bottom", "middle", "top"), thirds) if len(rows)}


def ndcg_by_popularity(train_dataset, targets, gains):
    """Mean NDCG per popularity third of the targets, with each third's training-count range and size."""
    return {name: {"ndcg": float(gains[rows].mean()), "train_count": list(span), "rows": int(len(rows))}
            for name, (rows, span) in popularity_thirds(train_dataset, targets).items()}


def timed_test_ranks(trainer, train_data, test_data, k=10):
    """``{test_eval_seconds, test_users, ndcg@k, ndcg@k_by_popularity, test_ranks, test_targets}`` from one timed
    full-ranking test pass."""
    start = time.time()
    ranks, targets = target_ranks(trainer, test_data)
    seconds = time.time() - start
    gains = ndcg_at(ranks, k)
    return {"test_eval_seconds": round(seconds, 3), "test_users": int(len(ranks)), f"ndcg@{k}": float(gains.mean()),
            f"ndcg@{k}_by_popularity": ndcg_by_popularity(train_data._dataset, targets, gains),
            # per test row, in the test loader's (fixed) order: paired comparisons between cells
            "test_ranks": ranks.astype(int).tolist(), "test_targets": targets.astype(int).tolist()}


def examples_seen(trainer, train_data):
    """Training examples seen, per phase for the plugin's trainer (phase 1: item-text / item-item / user-item
    pairs), else epochs run x training rows (RecBole's trainers)."""
    throughput = getattr(trainer, "throughput", None)
    if throughput:
        return {f"phase{p}": int(sum(e["examples"] for e in epochs)) for p, epochs in sorted(throughput.items())}
    return {"train": len(trainer.train_loss_dict) * len(train_data.dataset)}


def machine():
    """What a cell ran on. The CPU's vector instructions matter for its numbers: torch picks its kernels by
    ``cpu_capability`` (AVX2 / AVX512), and the two give different rounding, which long trainings (the phase-0
    backbone) carry into different weights; ``ATEN_CPU_CAPABILITY=avx2`` forces one set of kernels."""
    import platform

    import torch

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def cell_stats(trainer, train_data, test_data):
    """The extra numbers of a benchmark cell (passed to ``run_recbole_ilm(after_test=...)``)."""
    return {"examples_seen": examples_seen(trainer, train_data), **timed_test_ranks(trainer, train_data, test_data)}
