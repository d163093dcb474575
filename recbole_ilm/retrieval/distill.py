"""Distillation from a trained RecBole sequential model (issue 12; the idea of LLM-SRec, arXiv 2502.13909).

``distill_checkpoint`` names a RecBole checkpoint of a sequential model trained on the same dataset and filtering
(SASRec, GRU4Rec, ...). It is loaded once, frozen, and never saved with the plugin's model. In phase 2 with the
item-token or hybrid head, the loss becomes

    CE(scores, target) + distill_weight · T² · KL(softmax(teacher / T) ‖ softmax(scores / T))

over the whole catalogue (padding column 0 left out), where ``teacher`` is the teacher's ``full_sort_predict`` for the
same history: its user representation times its item table. With ``item_head_negatives: K`` both terms run over the
sampled columns only; ``distill_top_items: M`` adds each row's M best items by the teacher to the distillation's
columns (on Beauty's seed-2020 GRU4Rec, the targets plus 1,024 uniform draws hold 0.113 of the teacher's softmax mass,
its own top 20 per row 0.240: docs/quality/teacher_columns.py, docs/results.md). Distilling these logits, rather than
the user vector itself, needs no projection between the two models' spaces and works for any RecBole sequential
model.
"""

import torch
import torch.nn.functional as F

from recbole_ilm.checkpoint_io import read_checkpoint
from recbole_ilm.compat import disable_recbole_anomaly_mode
from recbole_ilm.errors import ILMConfigError


def distillation_loss(student, teacher, temperature=1.0):
    """``T² · KL(softmax(teacher/T) ‖ softmax(student/T))``, mean over rows; ``[B, n + 1]`` scores, column 0 unused."""
    t = temperature
    target = F.log_softmax(teacher[:, 1:].float() / t, dim=1)
    student = F.log_softmax(student[:, 1:].float() / t, dim=1)
    return t * t * F.kl_div(student, target, log_target=True, reduction="batchmean")


def with_teacher_picks(items, teacher, top):
    """``distill_top_items``: the sampled columns ``items`` (sorted ids) plus each row's ``top`` best items by the
    ``teacher`` (``[B, n + 1]``, column 0 padding), sorted and unique, and a ``[1, len + 1]`` mask of the columns
    (padding first) that the cross-entropy keeps: the sampled ones. The teacher's picks join the distillation
    only; in the cross-entropy they would be extra negatives drawn where the teacher, not chance, puts them."""
    picks = teacher[:, 1:].topk(min(top, teacher.shape[1] - 1), dim=1).indices.flatten().to(items.device) + 1
    merged = torch.unique(torch.cat([items, picks]))
    keep = torch.cat([torch.ones(1, dtype=torch.bool, device=items.device), torch.isin(merged, items)])
    return merged, keep.unsqueeze(0)


def load_teacher(config, dataset):
    """The frozen RecBole model of ``distill_checkpoint`` (None when ``distill_weight`` is 0)."""
    path, weight = config["distill_checkpoint"], config["distill_weight"]
    if not weight:
        return None
    if not path:
        raise ILMConfigError("distill_weight > 0 needs distill_checkpoint: a RecBole sequential model's checkpoint "
                             "(e.g. saved/GRU4Rec-<dataset>-<time>.pth from run_recbole_ilm.py -m GRU4Rec) or its "
                             "name (GRU4Rec: trained here once and cached)")
    if config["retrieval_head"] == "generative":
        raise ILMConfigError("distill_weight > 0 distils scores over the whole catalogue: use retrieval_head: "
                             "item_tokens or hybrid")
    try:
        checkpoint = read_checkpoint(path)
    except ILMConfigError as e:
        raise ILMConfigError(f"distill_checkpoint: {e} (give a RecBole .pth, or a RecBole sequential model's name "
                             f"such as GRU4Rec to have it trained here)") from None
    saved = checkpoint.get("config")
    name = saved["model"] if saved is not None and "model" in saved else checkpoint.get("model")
    from recbole.model.abstract_recommender import SequentialRecommender
    from recbole.utils import get_model

    try:
        model_class = get_model(name)
    except (ValueError, TypeError, KeyError):
        model_class = None
    recbole_sequential = model_class is not None and model_class.__module__.startswith("recbole.model.") \
        and issubclass(model_class, SequentialRecommender)
    trained_on = saved["dataset"] if saved is not None and "dataset" in saved else checkpoint.get("dataset")
    if saved is None or not recbole_sequential or trained_on != config["dataset"]:
        raise ILMConfigError(f"distill_checkpoint '{path}' is not a RecBole sequential model trained on "
                             f"'{config['dataset']}' (model {name!r}, dataset {trained_on!r})")
    if saved["MAX_ITEM_LIST_LENGTH"] != config["MAX_ITEM_LIST_LENGTH"]:
        raise ILMConfigError(f"distill_checkpoint '{path}' was trained with MAX_ITEM_LIST_LENGTH "
                             f"{saved['MAX_ITEM_LIST_LENGTH']}, this run uses {config['MAX_ITEM_LIST_LENGTH']}")
    saved["device"] = torch.device("cpu")
    teacher = model_class(saved, dataset)
    try:
        teacher.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as e:
        raise ILMConfigError(f"distill_checkpoint '{path}': its weights do not fit this dataset's items "
                             f"({str(e).splitlines()[-1].strip()[:160]}); train it with the same dataset config")
    disable_recbole_anomaly_mode()  # in case get_model imported a RecBole model module for the first time
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher
