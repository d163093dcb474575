"""distill_user_weight: the CF model's user vector regressed from the item head's CF map (retrieval/distill.py,
retrieval/head_loss.py). With item_head_cf the head scores h_u · U c_i = (Uᵀ h_u) · c_i; with cf_source: checkpoint
c_i is that model's item table in the plugin's CF scale, so Uᵀ h_u = m s_u makes the term the CF model's own scores.
The score distillation's teacher (distill_checkpoint) is another model."""

import pytest
import torch
import torch.nn.functional as F

from helpers import build
from recbole_ilm.cf import normalised_table, table_scale
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.quick_start import run_recbole_ilm
from recbole_ilm.retrieval.distill import (check_user_teacher, distillation_loss, load_teachers, teacher_item_scale,
                                           teacher_user_vectors, user_distillation_loss)


def test_user_distillation_loss_by_hand():
    student = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    teacher = torch.tensor([[0.5, 0.0], [0.0, 1.0]])
    # target = 2 * teacher = [[1, 0], [0, 2]]; squared errors 0 and 4 (mean 2); target norms² 1 and 4 (mean 2.5)
    assert user_distillation_loss(student, teacher, 2.0).item() == pytest.approx(0.8)
    assert user_distillation_loss(torch.zeros(2, 2), teacher, 2.0).item() == pytest.approx(1.0)  # predicting zero


def test_at_zero_loss_the_cf_term_scores_items_as_the_teacher():
    torch.manual_seed(0)
    table = torch.nn.Embedding(7, 4)
    with torch.no_grad():
        table.weight[0] = 0.0  # padding row: left out of the scale
        table.weight.mul_(3.0)
    teacher = type("Teacher", (), {"item_embedding": table})()
    scale = teacher_item_scale(teacher)
    assert scale.item() == pytest.approx(table.weight[1:].norm(dim=1).mean().item(), rel=1e-6)
    assert scale.item() == pytest.approx(table_scale(table.weight).item())
    cf = normalised_table(table.weight.detach())  # what the model holds with cf_checkpoint = the teacher
    user = torch.randn(3, 4)
    student = scale * user  # Uᵀ h_u at zero loss
    assert user_distillation_loss(student, user, scale).item() == pytest.approx(0.0, abs=1e-7)
    torch.testing.assert_close(student @ cf.T, user @ table.weight.detach().T, rtol=1e-5, atol=1e-5)


@pytest.fixture()
def sasrec(toy):
    return run_recbole_ilm(model="SASRec", dataset="toy", config_dict=toy(epochs=1))["saved_model_file"]


@pytest.fixture()
def gru4rec(toy):
    return run_recbole_ilm(model="GRU4Rec", dataset="toy", config_dict=toy(epochs=1))["saved_model_file"]


def user_distilled(toy, cf_path, teacher_path, **overrides):
    return toy(**{"retrieval_head": "item_tokens", "item_head_cf": True, "cf_source": "checkpoint",
                  "cf_checkpoint": cf_path, "distill_checkpoint": teacher_path, "distill_weight": 0.5,
                  "distill_user_weight": 0.7, **overrides})


@pytest.mark.parametrize("negatives", [0, 6])
def test_phase2_loss_adds_the_weighted_user_term(toy, sasrec, gru4rec, negatives):
    """KL against GRU4Rec's scores (distill_checkpoint), the user term against SASRec's user vector (cf_checkpoint)."""
    config, ds, (train, valid, test), model = build("ILM", user_distilled(toy, sasrec, gru4rec,
                                                                          item_head_negatives=negatives))
    teacher, cf_model = load_teachers(config, train._dataset)
    assert type(teacher).__name__ == "GRU4Rec" and type(cf_model).__name__ == "SASRec"
    model.set_teacher(teacher, cf_model)
    model.eval()
    inter = next(iter(train))

    def parts():
        torch.manual_seed(5)
        drawn = model.head_candidates(inter["item_id"])
        columns = slice(None) if drawn is None else torch.cat([torch.zeros(1, dtype=torch.long), drawn])
        target = inter["item_id"] if drawn is None else torch.searchsorted(drawn, inter["item_id"]) + 1
        torch.manual_seed(5)
        loss = model.calculate_loss(inter)
        scores, hidden = model.item_head_scores(model._prompt_batch(inter), with_hidden=True)
        ce = F.cross_entropy(scores[:, columns], target)
        kd = distillation_loss(scores[:, columns], teacher.full_sort_predict(inter).view(len(inter), -1)[:, columns])
        user = teacher_user_vectors(cf_model, inter) * teacher_item_scale(cf_model)
        return loss, ce, kd, hidden @ model.item_head.cf_proj.weight, user

    with torch.no_grad():
        loss, ce, kd, student, target = parts()  # U is zero at the start: the user term is exactly 1
        assert student.abs().max().item() == 0.0
        assert loss.item() == pytest.approx((ce + 0.5 * kd + 0.7 * 1.0).item(), rel=1e-5)
        torch.nn.init.normal_(model.item_head.cf_proj.weight, std=0.3)
        loss, ce, kd, student, target = parts()
        by_hand = ((student - target) ** 2).sum(1).mean() / (target ** 2).sum(1).mean()
        assert abs(by_hand.item() - 1.0) > 1e-2
        assert loss.item() == pytest.approx((ce + 0.5 * kd + 0.7 * by_hand).item(), rel=1e-5)


def test_the_scores_target_is_the_kl_of_the_cf_terms_scores_against_the_cf_models_own(toy, sasrec):
    """``distill_user_target: scores``: T² · KL(CF model's full_sort_predict ‖ (Uᵀ h_u) · c_i) over the catalogue."""
    config, ds, (train, valid, test), model = build("ILM", user_distilled(
        toy, sasrec, None, distill_weight=0.0, distill_user_target="scores", distill_temperature=2.0))
    _, cf_model = load_teachers(config, train._dataset)
    model.set_teacher(None, cf_model)
    model.eval()
    inter = next(iter(train))
    with torch.no_grad():
        torch.nn.init.normal_(model.item_head.cf_proj.weight, std=0.3)
        loss = model.calculate_loss(inter)
        scores, hidden = model.item_head_scores(model._prompt_batch(inter), with_hidden=True)
        term = hidden @ model.item_head.cf_proj.weight @ model.cf_item.T  # the CF term alone, every item
        kd = distillation_loss(term, cf_model.full_sort_predict(inter).view(len(inter), -1), 2.0)
    assert kd.item() > 1e-3
    assert loss.item() == pytest.approx((F.cross_entropy(scores, inter["item_id"]) + 0.7 * kd).item(), rel=1e-5)


def test_a_user_distilled_run_trains_and_moves_u(toy, sasrec):
    """Only the user term (no score distillation): its teacher is the CF model alone."""
    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=user_distilled(
        toy, sasrec, None, distill_weight=0.0))
    assert set(result["test_result"]) >= {"ndcg@10"}
    from recbole_ilm.checkpoint_io import read_checkpoint
    state = read_checkpoint(result["saved_model_file"])["state_dict"]
    assert state["item_head.cf_proj.weight"].abs().max().item() > 0


@pytest.mark.parametrize("overrides, words", [
    ({"item_head_cf": False}, ["distill_user_weight", "item_head_cf: True"]),
    ({"cf_source": "ials"}, ["distill_user_weight", "cf_source: checkpoint", "cf_checkpoint"]),
])
def test_bad_user_distillation_settings_stop_the_run_before_training(toy, sasrec, overrides, words):
    cfg = user_distilled(toy, sasrec, None, distill_weight=0.0, **overrides)
    with pytest.raises(ILMConfigError) as err:
        run_recbole_ilm(model="ILM", dataset="toy", config_dict=cfg)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_cf_model_that_does_not_score_by_its_user_vector_is_refused(toy, sasrec):
    config, ds, (train, valid, test), model = build("ILM", user_distilled(toy, sasrec, None, distill_weight=0.0))
    _, cf_model = load_teachers(config, train._dataset)
    check_user_teacher(config, cf_model, model.cf_item)  # SASRec: user vector · item table
    plain = cf_model.full_sort_predict
    cf_model.full_sort_predict = lambda interaction: plain(interaction) + 1.0
    with pytest.raises(ILMConfigError, match="user vector times"):
        model.set_teacher(None, cf_model)


def test_an_item_table_other_than_the_cf_table_is_refused(toy, sasrec):
    config, ds, (train, valid, test), model = build("ILM", user_distilled(toy, sasrec, None, distill_weight=0.0))
    _, cf_model = load_teachers(config, train._dataset)
    with torch.no_grad():
        cf_model.item_embedding.weight[3] += 1.0
    with pytest.raises(ILMConfigError, match="not this model's CF table"):
        model.set_teacher(None, cf_model)
