"""What the item-token head's scores are fused with at evaluation, by the model (``backbone_fusion``,
``popularity_prior``) and by the tool that picks both on valid (:mod:`recbole_ilm.experiments.fusion`): one
definition, so the tool ranks exactly as the trained model does."""

import numpy as np
import torch


def training_counts(train_dataset):
    """Training count of every item id (padding 0 included): how many training rows have it as their item."""
    return np.bincount(train_dataset.inter_feat[train_dataset.iid_field].numpy(), minlength=train_dataset.item_num)


def log_popularity(train_dataset):
    """``log(1 + training count)`` of every item id (padding 0 included), a ``[n_items]`` float tensor."""
    return torch.log1p(torch.as_tensor(training_counts(train_dataset), dtype=torch.float32))


def fused(head, backbone, weight, prior=None, prior_weight=0.0):
    """``head + weight * backbone [+ prior_weight * prior]`` (the head alone at weight 0: the padding column is -inf
    in both scorers)."""
    scores = head.clone() if not weight else head + weight * backbone
    return scores + prior_weight * prior if prior_weight else scores
