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

``distill_user_weight`` (with ``item_head_cf`` and ``cf_source: checkpoint``) distils a user vector, LLM-SRec's
representation distillation tied to the head, from the CF model itself: the model whose item table the CF vectors
are (``cf_checkpoint``, a RecBole sequential model such as SASRec), independent of ``distill_checkpoint``. The head's
CF term scores ``h_u · U c_i = (Uᵀ h_u) · c_i`` with ``c_i = E_i / m`` (that model's item table ``E`` in the plugin's CF
scale ``m``), so ``Uᵀ h_u`` is regressed onto ``m s_u``, where ``s_u`` is the CF model's user vector (``s_u · E_i`` its
scores). At zero loss that term scores every item exactly as the CF model does, rarely bought ones included, where
the KL over a few sampled columns says little about them.
"""

import torch
import torch.nn.functional as F

from recbole_ilm.cf import normalised_table, table_scale
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


def user_distillation_loss(student, teacher_user, scale):
    """``‖student − m s‖² / mean ‖m s‖²``, mean over rows: ``[B, d]`` student user vectors (``Uᵀ h_u``) against the
    teacher's ``[B, d]`` user vectors ``s`` in the CF table's scale ``m``; relative, so its weight does not depend on
    the teacher's norms (1 = predicting zero)."""
    target = teacher_user.float() * scale
    return ((student.float() - target) ** 2).sum(1).mean() / (target ** 2).sum(1).mean().clamp_min(1e-12)


def on_device(model, device):
    """A frozen RecBole model moved to ``device``, with its ``device`` attribute too (RecBole models make some
    tensors on their config's device)."""
    model = model.to(device)
    model.device = device
    return model


def teacher_user_vectors(teacher, interaction):
    """``[B, d]``: the teacher's user vectors for the batch's histories (its ``forward``)."""
    return teacher.forward(interaction[teacher.ITEM_SEQ], interaction[teacher.ITEM_SEQ_LEN])


def teacher_item_scale(teacher):
    """``m``: what the model's CF table divides the teacher's item table by (see :func:`normalised_table`)."""
    return table_scale(teacher.item_embedding.weight.detach()).to(teacher.item_embedding.weight.device)


def check_user_teacher(config, teacher, cf_item, option="distill_user_weight",
                       fix="use distill_user_weight: 0 (the score distillation, distill_weight, works with any teacher)"):
    """Refuse the ``cf_checkpoint`` model as the source of user vectors in the CF table's geometry (``option``:
    ``distill_user_weight``'s teacher, ``user_tokens: cf_model``) where its user vector cannot stand for its scores:
    scores that are not user vector · item table, or an item table that is not the model's CF table."""
    name, table = type(teacher).__name__, getattr(teacher, "item_embedding", None)
    if not isinstance(table, torch.nn.Embedding):
        raise ILMConfigError(f"{option} reads cf_checkpoint's user vector against its item table, but "
                             f"{name} has no item_embedding table; {fix}")
    from recbole.data.interaction import Interaction

    seq = torch.zeros(2, config["MAX_ITEM_LIST_LENGTH"], dtype=torch.long)
    seq[0, :3], seq[1, :1] = torch.tensor([1, 2, 1]), 2
    probe = Interaction({teacher.ITEM_SEQ: seq, teacher.ITEM_SEQ_LEN: torch.tensor([3, 1])}).to(table.weight.device)
    with torch.no_grad():
        scores = teacher.full_sort_predict(probe).view(2, -1)
        by_vector = teacher_user_vectors(teacher, probe) @ table.weight.T
    if scores.shape != by_vector.shape or not torch.allclose(scores, by_vector, rtol=1e-4, atol=1e-5):
        raise ILMConfigError(f"{option} needs a cf_checkpoint model whose scores are its user vector times "
                             f"its item table (SASRec, GRU4Rec, ...); {name}'s are not; {fix}")
    mine = normalised_table(table.weight.detach().cpu())
    if mine.shape != cf_item.shape or not torch.allclose(mine, cf_item.detach().cpu(), rtol=1e-4, atol=1e-6):
        raise ILMConfigError(f"{option}: cf_checkpoint's item table is not this model's CF table "
                             f"(cf_item_param picks another table?); {fix}")


def load_user_teacher(config, dataset, loaded=None):
    """``distill_user_weight``'s teacher: the frozen RecBole sequential model of ``cf_checkpoint`` (None when the
    weight is 0); ``loaded``, that same file's model already read by the model (``user_tokens: cf_model``), is
    returned instead of reading it again."""
    if not config["distill_user_weight"]:
        return None
    if config["cf_source"] != "checkpoint" or not config["cf_checkpoint"]:
        raise ILMConfigError("distill_user_weight distils the user vector of the model whose item table the CF "
                             "vectors are: set cf_source: checkpoint and cf_checkpoint to a RecBole sequential model "
                             "(e.g. SASRec, trained here once and cached), or distill_user_weight: 0")
    if loaded is not None:
        return loaded
    return load_sequential(config, dataset, config["cf_checkpoint"], "cf_checkpoint")


def load_teachers(config, dataset, model=None):
    """``(teacher, user_teacher)`` for :meth:`set_teacher`: distill_checkpoint's and cf_checkpoint's models (None
    where their weight is 0); the cf_checkpoint model that ``model`` already holds for its user tokens
    (``cf_user_model``) is shared, not read twice."""
    loaded = None if model is None else model.__dict__.get("cf_user_model")
    return load_teacher(config, dataset), load_user_teacher(config, dataset, loaded)


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
    return load_sequential(config, dataset, path, "distill_checkpoint")


def load_sequential(config, dataset, path, option):
    """A frozen RecBole sequential model from the checkpoint ``path`` (given as ``option``), built on ``dataset``."""
    try:
        checkpoint = read_checkpoint(path)
    except ILMConfigError as e:
        raise ILMConfigError(f"{option}: {e} (give a RecBole .pth, or a RecBole sequential model's name "
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
        raise ILMConfigError(f"{option} '{path}' is not a RecBole sequential model trained on "
                             f"'{config['dataset']}' (model {name!r}, dataset {trained_on!r})")
    if saved["MAX_ITEM_LIST_LENGTH"] != config["MAX_ITEM_LIST_LENGTH"]:
        raise ILMConfigError(f"{option} '{path}' was trained with MAX_ITEM_LIST_LENGTH "
                             f"{saved['MAX_ITEM_LIST_LENGTH']}, this run uses {config['MAX_ITEM_LIST_LENGTH']}")
    saved["device"] = torch.device("cpu")
    teacher = model_class(saved, dataset)
    try:
        teacher.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as e:
        raise ILMConfigError(f"{option} '{path}': its weights do not fit this dataset's items "
                             f"({str(e).splitlines()[-1].strip()[:160]}); train it with the same dataset config")
    disable_recbole_anomaly_mode()  # in case get_model imported a RecBole model module for the first time
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher
