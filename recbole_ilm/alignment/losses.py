"""Phase-1 losses, one small function each. Features are L2-normalised; ``temp`` is the learnable temperature.

Contrastive similarities follow the paper: for an item and a text, the item is represented by the query output
closest to the text's CLS feature (Eq. 2); for two items (or a user and an item), by the closest *pair* of query
outputs (Eq. 4). Each batch scores every (row, column) pair that way and uses the other rows as in-batch
negatives (symmetric InfoNCE).
"""

import torch
import torch.nn.functional as F


def select_query(query_feats, text_feats):
    """Index of the query closest (cosine) to the text, per example: ``[B, N, E]``, ``[B, E]`` -> ``[B]``."""
    return torch.einsum("bne,be->bn", query_feats, text_feats).argmax(dim=1)


def select_query_pair(feats_a, feats_b):
    """``(k, l)`` of the closest query pair per example: ``[B, N, E]`` x2 -> two ``[B]`` tensors."""
    sim = torch.einsum("bne,bme->bnm", feats_a, feats_b)
    flat = sim.flatten(1).argmax(dim=1)
    return flat // sim.shape[2], flat % sim.shape[2]


def item_text_similarity(query_feats, text_feats):
    """``sim[i, j] = max_n <q_{i,n}, t_j>``: item ``i`` (its best query) against text ``j``."""
    return torch.einsum("ine,je->ijn", query_feats, text_feats).max(dim=-1).values


def item_item_similarity(feats_a, feats_b):
    """``sim[i, j] = max_{k,l} <a_{i,k}, b_{j,l}>``: the closest query pair of row ``i`` and column ``j``."""
    return torch.einsum("ike,jle->ijkl", feats_a, feats_b).flatten(2).max(dim=-1).values


def gather_across_ranks(x):
    """``(rows of every rank, offset of this rank's rows)``; gradients flow back to this rank's rows.

    Outside a process group (or with one process) this is ``(x, 0)``, so the losses are the single-process ones.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    return _GatherWithGrad.apply(x), dist.get_rank() * x.shape[0]


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0 whose backward sums every rank's gradient and keeps this rank's slice.

    Written out because ``torch.distributed.nn.functional.all_gather``'s backward left a thread behind that aborted
    gloo processes at exit ("terminate called without an active exception", about one run in eight).
    """

    @staticmethod
    def forward(ctx, x):
        import torch.distributed as dist

        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows, ctx.rank = x.shape[0], dist.get_rank()
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        import torch.distributed as dist

        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def symmetric_infonce(sim_a2b, sim_b2a, temp, offset=0):
    """InfoNCE in both directions. ``sim_a2b[i, j]``: local row ``i`` against column ``j`` of all ranks (positive at
    ``offset + i``), ``sim_b2a`` the same from the other side; in one process both are the square batch matrix
    and its transpose."""
    target = offset + torch.arange(sim_a2b.shape[0], device=sim_a2b.device)
    return (F.cross_entropy(sim_a2b / temp, target) + F.cross_entropy(sim_b2a / temp, target)) / 2


def itc_loss(query_feats, text_feats, temp):
    """Item-text contrastive loss (negatives: the batch's other texts/items, on every rank when distributed)."""
    all_text, offset = gather_across_ranks(text_feats)
    all_query, _ = gather_across_ranks(query_feats)
    return symmetric_infonce(item_text_similarity(query_feats, all_text),
                             item_text_similarity(all_query, text_feats).t(), temp, offset)


def iic_loss(feats_a, feats_b, temp):
    """Item-item contrastive loss (consecutive items of a user are positives). Also the user-item loss (UIC)."""
    all_b, offset = gather_across_ranks(feats_b)
    all_a, _ = gather_across_ranks(feats_a)
    return symmetric_infonce(item_item_similarity(feats_a, all_b), item_item_similarity(all_a, feats_b).t(), temp,
                             offset)


uic_loss = iic_loss  # a user is a special item: same loss, user CF embedding on one side


def itg_loss(logits, input_ids, text_mask):
    """Item-grounded generation: next-token cross-entropy on the real text tokens (the first one is given)."""
    labels = input_ids[:, 1:].masked_fill(~text_mask[:, 1:].bool(), -100)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def hard_negatives(sim, same, generator=None):
    """For each row, a column drawn with probability ``softmax(sim)`` among columns that are not a positive.

    ``same[i, j]`` marks pairs that must never be negatives (the diagonal and, e.g., duplicate texts). A row whose
    columns are all excluded gets -1.
    """
    weights = torch.softmax(sim.float(), dim=1).masked_fill(same, 0.0)
    valid = weights.sum(dim=1) > 0
    weights[~valid] = 1.0  # placeholder row, result replaced by -1 below
    picks = torch.multinomial(weights, 1, generator=generator).squeeze(1)
    return torch.where(valid, picks, torch.full_like(picks, -1))


def itm_loss(pos_logits, neg_logits):
    """Binary item-text matching: positives labelled 1, mined hard negatives 0."""
    logits = torch.cat([pos_logits, neg_logits])
    labels = torch.cat([torch.ones_like(pos_logits), torch.zeros_like(neg_logits)])
    return F.binary_cross_entropy_with_logits(logits, labels)
