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


def history_vectors(cf_item, seq, scale):
    """``[B, d]``: each row's mean CF vector over its history items ``seq`` ``[B, L]`` (0 = padding), divided by
    ``scale``; zero for an empty history."""
    real = (seq > 0).unsqueeze(-1).to(cf_item.dtype)
    return (cf_item[seq] * real).sum(1) / real.sum(1).clamp_min(1.0) / scale
