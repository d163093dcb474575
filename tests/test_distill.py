"""Issue 12: phase 2 distils a trained RecBole sequential model's scores over the catalogue (retrieval/distill.py)."""

import math

import pytest
import torch
import torch.nn.functional as F

from helpers import build
from recbole_ilm.checkpoint_io import read_checkpoint
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.quick_start import run_recbole_ilm
from recbole_ilm.retrieval.distill import distillation_loss, load_teacher, with_teacher_picks


def test_distillation_loss_by_hand():
    inf = float("-inf")
    student = torch.tensor([[inf, 0.0, 0.0]])                 # softmax over items 1, 2: (1/2, 1/2)
    teacher = torch.tensor([[5.0, math.log(3.0), 0.0]])        # (3/4, 1/4); column 0 (padding) is left out
    # T = 1: KL = 3/4 ln(3/4 / 1/2) + 1/4 ln(1/4 / 1/2)
    assert distillation_loss(student, teacher, 1.0).item() == pytest.approx(0.130812, abs=1e-6)
    # T = 2: the teacher's softmax of (ln 3 / 2, 0) is (sqrt 3, 1) / (sqrt 3 + 1); times T^2 = 4
    p = math.sqrt(3) / (math.sqrt(3) + 1)
    by_hand = 4 * (p * math.log(2 * p) + (1 - p) * math.log(2 * (1 - p)))
    assert by_hand == pytest.approx(0.145363, abs=1e-6)
    assert distillation_loss(student, teacher, 2.0).item() == pytest.approx(by_hand, abs=1e-6)
    assert distillation_loss(teacher, teacher, 2.0).item() == pytest.approx(0.0, abs=1e-7)


@pytest.fixture()
def gru4rec(toy):
    return run_recbole_ilm(model="GRU4Rec", dataset="toy", config_dict=toy(epochs=1))["saved_model_file"]


@pytest.mark.parametrize("negatives", [0, 6])
def test_phase2_loss_is_cross_entropy_plus_weighted_distillation(toy, gru4rec, negatives):
    """With ``item_head_negatives`` both terms run over the same columns: the targets and the drawn items."""
    config, ds, (train, valid, test), model = build("ILM", toy(
        retrieval_head="item_tokens", distill_checkpoint=gru4rec, distill_weight=0.5, distill_temperature=2.0,
        item_head_negatives=negatives))
    teacher = load_teacher(config, train._dataset)
    model.set_teacher(teacher)
    model.eval()  # no dropout: the two computations below see the same scores
    inter = next(iter(train))
    torch.manual_seed(5)
    drawn = model.head_candidates(inter["item_id"])
    assert (drawn is None) == (negatives == 0)
    if drawn is None:
        columns, target = slice(None), inter["item_id"]
    else:  # column 0 (padding) stays first
        columns = torch.cat([torch.zeros(1, dtype=torch.long), drawn])
        target = torch.searchsorted(drawn, inter["item_id"]) + 1
    with torch.no_grad():
        torch.manual_seed(5)
        loss = model.calculate_loss(inter)
        scores = model.item_head_scores(model._prompt_batch(inter))[:, columns]
        ce = F.cross_entropy(scores, target)
        kd = distillation_loss(scores, teacher.full_sort_predict(inter).view(scores.shape[0], -1)[:, columns], 2.0)
    assert kd.item() > 0
    assert loss.item() == pytest.approx((ce + 0.5 * kd).item(), rel=1e-5)
    assert not any("teacher" in k for k in model.state_dict()) and model.teacher is teacher


def test_teacher_picks_by_hand():
    """Rows' best items by the teacher join the sampled columns; the cross-entropy keeps only the sampled ones."""
    teacher = torch.tensor([[9.0, 0.1, 0.9, 0.5, 0.2, 0.0, 0.3],    # column 0 is padding, never a pick
                            [9.0, 0.0, 0.1, 0.2, 0.3, 0.8, 0.7]])   # best two: items 2, 3 / items 5, 6
    items, keep = with_teacher_picks(torch.tensor([1, 3, 4]), teacher, 2)
    assert items.tolist() == [1, 2, 3, 4, 5, 6]
    assert keep.tolist() == [[True, True, False, True, True, False, False]]


def test_distill_top_items_join_the_distillation_not_the_cross_entropy(toy, gru4rec):
    """``distill_top_items: M``: the columns are the targets, the same uniform draws as without the option, and each
    row's M items the teacher scores highest; the distillation runs over all of them, the cross-entropy over the
    targets and the uniform draws only."""
    config, ds, (train, valid, test), model = build("ILM", toy(
        retrieval_head="item_tokens", distill_checkpoint=gru4rec, distill_weight=50.0, item_head_negatives=2,
        distill_top_items=3))  # a large weight: the toy teacher is nearly uniform, its KL small
    teacher = load_teacher(config, train._dataset)
    model.set_teacher(teacher)
    model.eval()
    inter = next(iter(train))
    with torch.no_grad():
        teacher_scores = teacher.full_sort_predict(inter).view(len(inter), -1)
    top = set((teacher_scores[:, 1:].topk(3, dim=1).indices + 1).flatten().tolist())
    torch.manual_seed(7)
    uniform = model.head_candidates(inter["item_id"])
    assert set(top) - set(uniform.tolist())  # the teacher's picks add columns the draw missed
    items = torch.tensor(sorted(set(uniform.tolist()) | top))
    columns = torch.cat([torch.zeros(1, dtype=torch.long), items])
    with torch.no_grad():
        torch.manual_seed(7)
        loss = model.calculate_loss(inter)
        full = model.item_head_scores(model._prompt_batch(inter))
        sampled = torch.cat([torch.zeros(1, dtype=torch.long), uniform])
        ce = F.cross_entropy(full[:, sampled], torch.searchsorted(uniform, inter["item_id"]) + 1)
        kd = distillation_loss(full[:, columns], teacher_scores[:, columns], 1.0)
        kd_sampled = distillation_loss(full[:, sampled], teacher_scores[:, sampled], 1.0)
    assert 50 * abs(kd - kd_sampled).item() > 1e-3  # the two column sets give measurably different losses
    assert loss.item() == pytest.approx((ce + 50 * kd).item(), abs=1e-4)


def test_a_distilled_run_trains_and_saves_without_the_teacher(toy, gru4rec):
    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(
        retrieval_head="item_tokens", distill_checkpoint=gru4rec, distill_weight=1.0))
    assert set(result["test_result"]) >= {"ndcg@10"}
    assert not any("teacher" in k or k.startswith("gru") for k in read_checkpoint(result["saved_model_file"])
                   ["state_dict"])


@pytest.mark.parametrize("overrides, words", [
    ({"retrieval_head": "generative"}, ["retrieval_head", "item_tokens"]),
    ({"distill_checkpoint": None}, ["distill_checkpoint", "GRU4Rec"]),
    ({"distill_checkpoint": "nowhere.pth"}, ["distill_checkpoint", "does not exist"]),
    ({"MAX_ITEM_LIST_LENGTH": 8}, ["MAX_ITEM_LIST_LENGTH", "10", "8"]),
    ({"distill_top_items": 5}, ["distill_top_items", "item_head_negatives > 0"]),
    ({"distill_top_items": 5, "item_head_negatives": 4, "distill_weight": 0.0}, ["distill_top_items", "distill_weight"]),
])
def test_bad_distillation_settings_stop_the_run_before_training(toy, gru4rec, overrides, words):
    cfg = toy(**{"retrieval_head": "item_tokens", "distill_checkpoint": gru4rec, "distill_weight": 1.0, **overrides})
    with pytest.raises(ILMConfigError) as err:
        run_recbole_ilm(model="ILM", dataset="toy", config_dict=cfg)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_plugin_checkpoint_is_no_teacher(toy):
    ilm = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(phase=0))["saved_model_file"]
    with pytest.raises(ILMConfigError, match="not a RecBole sequential model"):
        run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(
            retrieval_head="item_tokens", distill_checkpoint=ilm, distill_weight=1.0))
