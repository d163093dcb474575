"""Phase-1 losses, one small function each. Features are L2-normalised; ``temp`` is the learnable temperature.

Contrastive similarities follow the paper: for an item and a text, the item is represented by the query output
closest to the text's CLS feature (Eq. 2); for two items (or a user and an item), by the closest *pair* of query
outputs (Eq. 4). Each batch scores every (row, column) pair that way and uses the other rows as in-batch
negatives (symmetric InfoNCE).

In-batch false negatives are masked out as BLIP does with ``image_id``: a column that holds the same entity as the
row's positive (a repeated item, user or identical text) is never a negative, nor is a column that holds the
row's own item (item-item pairs). Hard negatives for ITM are drawn with ``softmax(sim / temp)``, the ITC
temperature, as in BLIP-2 (on raw cosines in [-1, 1] the draw would be nearly uniform).
"""

import math

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


def _distributed():
    """Whether the losses gather in-batch negatives from several ranks."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_across_ranks(x):
    """``(rows of every rank, offset of this rank's rows)``; gradients flow back to this rank's rows.

    Outside a process group (or with one process) this is ``(x, 0)``, so the losses are the single-process ones.
    """
    if not _distributed():
        return x, 0
    import torch.distributed as dist

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


def gather_ids(ids):
    """Ids of every rank's rows (no gradient); ``ids`` itself in one process."""
    if not _distributed():
        return ids
    import torch.distributed as dist

    parts = [torch.empty_like(ids) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, ids.contiguous())
    return torch.cat(parts)


def false_negatives(col_ids, offset, rows, row_ids=None):
    """``[rows, C]`` True where column ``j`` is not row ``i``'s positive (``offset + i``) but holds the same id as
    that positive, or (``row_ids`` given, same id space) the row's own id."""
    target = offset + torch.arange(rows, device=col_ids.device)
    same = col_ids[None, :] == col_ids[target][:, None]
    if row_ids is not None:
        same |= col_ids[None, :] == row_ids[:, None]
    same[torch.arange(rows, device=col_ids.device), target] = False
    return same


def symmetric_infonce(sim_a2b, sim_b2a, temp, offset=0, exclude_a2b=None, exclude_b2a=None):
    """InfoNCE in both directions. ``sim_a2b[i, j]``: local row ``i`` against column ``j`` of all ranks (positive at
    ``offset + i``), ``sim_b2a`` the same from the other side; in one process both are the square batch matrix
    and its transpose. ``exclude_*`` (bool, same shapes) removes false negatives from the softmax."""
    target = offset + torch.arange(sim_a2b.shape[0], device=sim_a2b.device)
    logits_a, logits_b = sim_a2b / temp, sim_b2a / temp
    if exclude_a2b is not None:
        logits_a = logits_a.masked_fill(exclude_a2b, float("-inf"))
    if exclude_b2a is not None:
        logits_b = logits_b.masked_fill(exclude_b2a, float("-inf"))
    return (F.cross_entropy(logits_a, target) + F.cross_entropy(logits_b, target)) / 2


def contrastive_chance(exclude_a2b, exclude_b2a):
    """The loss of a model that has learnt nothing: mean ``ln(candidate columns)`` over the rows of both sides."""
    counts = torch.cat([(~exclude_a2b).sum(dim=1), (~exclude_b2a).sum(dim=1)]).float()
    return float(counts.log().mean())


def _pair_masks(ids_a, ids_b, offset, same_space):
    """False-negative masks of both directions, for ids of the local rows (``None`` when no ids are given)."""
    if ids_a is None or ids_b is None:
        return None, None
    all_a, all_b = gather_ids(ids_a), gather_ids(ids_b)
    rows = len(ids_a)
    a2b = false_negatives(all_b, offset, rows, ids_a if same_space else None)
    b2a = false_negatives(all_a, offset, rows, ids_b if same_space else None)
    return a2b, b2a


def itc_loss(query_feats, text_feats, temp, ids=None, return_masks=False):
    """Item-text contrastive loss (negatives: the batch's other texts/items, on every rank when distributed).

    ``ids[i]`` (e.g. the text group of item ``i``): rows with equal ids are never each other's negatives."""
    all_text, offset = gather_across_ranks(text_feats)
    all_query, _ = gather_across_ranks(query_feats)
    a2b, b2a = _pair_masks(ids, ids, offset, same_space=False)
    loss = symmetric_infonce(item_text_similarity(query_feats, all_text),
                             item_text_similarity(all_query, text_feats).t(), temp, offset, a2b, b2a)
    return (loss, a2b, b2a) if return_masks else loss


def iic_loss(feats_a, feats_b, temp, ids_a=None, ids_b=None, return_masks=False):
    """Item-item contrastive loss (consecutive items of a user are positives).

    With ``ids_a`` / ``ids_b`` (item ids of both sides) a column holding the row's positive item again, or the
    row's own item, is not a negative."""
    return _pair_loss(feats_a, feats_b, temp, ids_a, ids_b, True, return_masks)


def uic_loss(feats_u, feats_i, temp, user_ids=None, item_ids=None, return_masks=False):
    """User-item contrastive loss: a user is a special item (same loss, the user's CF embedding on one side).

    A repeated user (or item) in the batch is not a negative of its own positive."""
    return _pair_loss(feats_u, feats_i, temp, user_ids, item_ids, False, return_masks)


def _pair_loss(feats_a, feats_b, temp, ids_a, ids_b, same_space, return_masks):
    all_b, offset = gather_across_ranks(feats_b)
    all_a, _ = gather_across_ranks(feats_a)
    a2b, b2a = _pair_masks(ids_a, ids_b, offset, same_space)
    loss = symmetric_infonce(item_item_similarity(feats_a, all_b), item_item_similarity(all_a, feats_b).t(), temp,
                             offset, a2b, b2a)
    return (loss, a2b, b2a) if return_masks else loss


def itg_loss(logits, input_ids, text_mask):
    """Item-grounded generation: next-token cross-entropy on the real text tokens (the first one is given)."""
    labels = input_ids[:, 1:].masked_fill(~text_mask[:, 1:].bool(), -100)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


def hard_negatives(sim, same, temp, generator=None):
    """For each row, a column drawn with probability ``softmax(sim / temp)`` among columns that are not a positive
    (BLIP-2's hard-negative mining; ``temp`` is the ITC temperature).

    ``same[i, j]`` marks pairs that must never be negatives (the diagonal and, e.g., duplicate texts). A row whose
    columns are all excluded gets -1.
    """
    weights = torch.softmax(sim.float().masked_fill(same, float("-inf")) / float(temp), dim=1)
    weights = torch.nan_to_num(weights, nan=0.0)
    valid = weights.sum(dim=1) > 0
    weights[~valid] = 1.0  # placeholder row, result replaced by -1 below
    picks = torch.multinomial(weights, 1, generator=generator).squeeze(1)
    return torch.where(valid, picks, torch.full_like(picks, -1))


def itm_chance(num_pos, num_neg):
    """Cross-entropy of always answering the positive share: the ITM loss of a model that has learnt nothing."""
    p = num_pos / max(num_pos + num_neg, 1)
    return 0.0 if p in (0.0, 1.0) else float(-(p * math.log(p) + (1 - p) * math.log(1 - p)))


def itm_loss(pos_logits, neg_logits):
    """Binary item-text matching: positives labelled 1, mined hard negatives 0."""
    logits = torch.cat([pos_logits, neg_logits])
    labels = torch.cat([torch.ones_like(pos_logits), torch.zeros_like(neg_logits)])
    return F.binary_cross_entropy_with_logits(logits, labels)
