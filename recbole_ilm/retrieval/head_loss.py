"""Phase 2's loss with the item-token (or hybrid) head: cross-entropy over the catalogue, plus the distillation
terms of :mod:`recbole_ilm.retrieval.distill` when a teacher is set.

    CE(scores, target)
    + distill_weight · T² · KL(teacher scores ‖ scores)             (the teacher's catalogue scores)
    + distill_user_weight · ‖Uᵀ h_u − m s_u‖² / mean ‖m s_u‖²        (the CF model's user vector, item_head_cf's map)

With ``item_head_negatives: K`` the first two run over the batch's targets plus K uniform draws (and, with
``distill_top_items``, the teacher's own picks in the KL only); the third needs no columns. With
``distill_user_target: scores`` the third term compares the two vectors through the catalogue instead: T² · KL of the
CF model's scores ``s_u · E_i = m s_u · c_i`` against the CF term's ``Uᵀ h_u · c_i``, over every item (no item
tokens needed, so the whole catalogue is cheap), which weighs what decides the ranking rather than the vectors'
largest directions.
"""

import torch
import torch.nn.functional as F

from recbole_ilm.retrieval.distill import (distillation_loss, teacher_item_scale, teacher_user_vectors,
                                           user_distillation_loss, with_teacher_picks)


def head_loss(model, batch, interaction):
    """The loss of one training batch (``interaction`` on the model's device) for a model with an item head."""
    config, target = model.config, interaction[model.ITEM_ID]
    teacher = user = None
    with torch.no_grad():
        if model.teacher is not None:
            teacher = model.teacher.full_sort_predict(interaction).view(target.shape[0], -1)
        if model.user_teacher is not None:
            user = teacher_user_vectors(model.user_teacher, interaction)
    items, sampled = model.head_candidates(target), None
    if items is not None and teacher is not None and config["distill_top_items"]:
        items, sampled = with_teacher_picks(items, teacher, config["distill_top_items"])
    scores, hidden = model.item_head_scores(batch, items, with_hidden=True)
    ce_scores = scores if sampled is None else scores.masked_fill(~sampled, float("-inf"))
    loss = F.cross_entropy(ce_scores, target if items is None else torch.searchsorted(items, target) + 1)
    if teacher is not None:
        if items is not None:  # the teacher's distribution over the same columns
            teacher = torch.cat([teacher[:, :1], teacher[:, items]], dim=1)
        loss = loss + config["distill_weight"] * distillation_loss(scores, teacher, config["distill_temperature"])
    if user is not None:  # h_u · U c_i = (Uᵀ h_u) · c_i: the CF term's user side
        student = hidden.float() @ model.item_head.cf_proj.weight.float()
        scale = teacher_item_scale(model.user_teacher)
        if config["distill_user_target"] == "scores":
            cf = model.cf_item.float()
            term = distillation_loss(student @ cf.T, (user.float() * scale) @ cf.T, config["distill_temperature"])
        else:
            term = user_distillation_loss(student, user, scale)
        loss = loss + config["distill_user_weight"] * term
    return loss
