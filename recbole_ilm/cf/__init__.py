"""Collaborative-filtering embeddings: the Q-Former's input. ``get_cf_embeddings`` picks the configured source."""

import torch

from recbole_ilm.cf.external import checkpoint_embeddings, file_embeddings, mean_of_items
from recbole_ilm.cf.ials import ials_embeddings, training_matrix
from recbole_ilm.errors import ILMConfigError


def get_cf_embeddings(config, train_dataset):
    """``(user_table [user_num, d], item_table [item_num, d])`` float32 arrays, row 0 = padding."""
    source = config["cf_source"] or "ials"
    if source == "ials":
        return ials_embeddings(config, train_dataset)
    matrix = training_matrix(train_dataset)
    if source == "checkpoint":
        if not config["cf_checkpoint"]:
            raise ILMConfigError("cf_source: checkpoint needs cf_checkpoint: <path to a RecBole .pth>")
        return checkpoint_embeddings(config["cf_checkpoint"], train_dataset.item_num, train_dataset.user_num,
                                     matrix, config["cf_item_param"], config["cf_user_param"], config["dataset"])
    if not config["cf_embedding_file"]:
        raise ILMConfigError("cf_source: file needs cf_embedding_file: <path to .npy or .npz>")
    return file_embeddings(config["cf_embedding_file"], train_dataset.item_num, train_dataset.user_num, matrix)


def normalised_table(table):
    """CF table scaled so that its non-empty rows have unit mean norm (keeps the geometry, fixes the scale)."""
    table = torch.as_tensor(table, dtype=torch.float32)
    return table / table_scale(table)


def table_scale(table):
    """The mean norm of a table's non-empty rows (1 if none): what :func:`normalised_table` divides by."""
    norms = torch.as_tensor(table, dtype=torch.float32).norm(dim=1)
    return norms[norms > 0].mean() if (norms > 0).any() else torch.tensor(1.0)


def history_scale(cf_item, train_dataset):
    """``user_tokens: history``: the mean norm of the users' mean item vector over all their training items, so that
    :func:`history_vectors` come out at about the unit mean norm of the (normalised) CF user table."""
    return table_scale(mean_of_items(cf_item.numpy(), training_matrix(train_dataset)))


def history_sums(cf_item, seq, older=None):
    """``(sums [B, d], counts [B, 1])`` of the CF vectors of each row's history items ``seq`` ``[B, L]`` (0 =
    padding), plus ``older``: ``(sums [B, d], counts [B])`` of the items before that window, if given."""
    real = (seq > 0).unsqueeze(-1).to(cf_item.dtype)
    total, count = (cf_item[seq] * real).sum(1), real.sum(1)
    if older is not None:
        total, count = total + older[0], count + older[1].unsqueeze(-1).to(cf_item.dtype)
    return total, count


def history_vectors(cf_item, seq, scale, older=None):
    """``[B, d]``: each row's mean CF vector over its history items (:func:`history_sums`), divided by ``scale``;
    zero for an empty history."""
    total, count = history_sums(cf_item, seq, older)
    return total / count.clamp_min(1.0) / scale


def prefix_sums(cf_item, items, starts):
    """``[len(items) + n_users, d]`` running sums of the CF vectors along each user's item sequence (``items``,
    ``starts``: :func:`recbole_ilm.data.history.training_sequences`): row ``starts[u] + u + k`` is the sum over the
    user's first ``k`` items, ``k = 0 .. count``."""
    items, starts = torch.as_tensor(items), torch.as_tensor(starts)
    counts = starts[1:] - starts[:-1]
    user = torch.repeat_interleave(torch.arange(len(counts)), counts)
    running = torch.cumsum(cf_item[items].double(), dim=0)
    before = torch.cat([running.new_zeros(1, cf_item.shape[1]), running])[starts[:-1]]  # sum of earlier users
    out = torch.zeros(len(items) + len(counts), cf_item.shape[1], dtype=torch.float64)
    out[torch.arange(len(items)) + user + 1] = running - before[user]
    return out.to(cf_item.dtype)
