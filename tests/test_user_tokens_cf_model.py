"""``user_tokens: cf_model``: the user tokens read the CF model's own user vector of the row's history (SASRec's
sequence encoder on ITEM_SEQ), in the CF table's geometry: ``m s_u`` with ``c_i = E_i / m``, so ``m s_u · c_i`` is
the CF model's own score of item i, divided by the mean norm of the users' vectors over their training windows.
Checked here against RecBole's own reload of the SASRec checkpoint, not the plugin's loader."""

import numpy as np
import pytest
import torch

from helpers import build, user_slot_tokens
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.quick_start import run_recbole_ilm


@pytest.fixture()
def sasrec(toy):
    return run_recbole_ilm(model="SASRec", dataset="toy", config_dict=toy(epochs=1))["saved_model_file"]


def cf_model_config(toy, sasrec, **overrides):
    return toy(**{"user_tokens": "cf_model", "cf_source": "checkpoint", "cf_checkpoint": sasrec, **overrides})


def recbole_sasrec(path):
    """The checkpoint as RecBole itself reloads it (its own Config, dataset and model class)."""
    from recbole.quick_start import load_data_and_model

    return load_data_and_model(path)[1].eval()


def table_mean_norm(reference):
    """The mean norm of the item table's non-zero rows (RecBole's SASRec init leaves padding row 0 non-zero, so it
    counts, as in the plugin's normalised CF table)."""
    norms = reference.item_embedding.weight.detach().norm(dim=1)
    return norms[norms > 0].mean()


def test_cf_model_tokens_are_the_cf_models_user_vector_by_hand(toy, sasrec):
    config, ds, (train, valid, test), model = build("ILM", cf_model_config(toy, sasrec))
    model.eval()
    reference = recbole_sasrec(sasrec)
    m = table_mean_norm(reference)
    with torch.no_grad():
        # the scale: each user's whole training window is the valid row's history (leave-one-out, one valid row each)
        windows = [(inter["item_id_list"], inter["item_length"]) for inter, *_ in valid]
        vectors = torch.cat([reference.forward(seq, length) for seq, length in windows]) * m
        assert len(vectors) == len(np.unique(ds.inter_feat["user_id"].numpy()))
        torch.testing.assert_close(model.cf_model_scale, vectors.norm(dim=1).mean(), rtol=1e-5, atol=1e-6)
        for loader in (train, test):
            inter = next(iter(loader))
            inter = inter[0] if isinstance(inter, tuple) else inter
            want = reference.forward(inter["item_id_list"], inter["item_length"]) * m / model.cf_model_scale
            # in the CF table's geometry: the same vector, unscaled, scores the plugin's CF table as SASRec does
            scores = want * model.cf_model_scale @ model.cf_item.T
            torch.testing.assert_close(scores[:, 1:], reference.full_sort_predict(inter).view(len(inter), -1)[:, 1:],
                                       rtol=1e-4, atol=1e-4)
            got = user_slot_tokens(model, model._prompt_batch(inter))
            assert got
            for b, tokens in got.items():
                torch.testing.assert_close(tokens, model.encode_entities(want[b : b + 1])[0], rtol=1e-4, atol=1e-5)


def test_cf_model_tokens_never_see_the_target(toy, sasrec):
    """The user vector is SASRec's over the row's history only: a row's tokens do not move when its target changes."""
    config, ds, (train, valid, test), model = build("ILM", cf_model_config(toy, sasrec))
    model.eval()
    inter = next(iter(train))
    before = user_slot_tokens(model, model._prompt_batch(inter))
    inter.interaction["item_id"] = inter["item_id"] % 29 + 1  # other targets, same histories
    after = user_slot_tokens(model, model._prompt_batch(inter))
    assert before.keys() == after.keys()
    for b in before:
        torch.testing.assert_close(after[b], before[b])


def test_phase1_uic_reads_the_cf_models_vector_of_each_training_row(toy, sasrec):
    from recbole_ilm.trainer.alignment_trainer import AlignmentTrainer

    config, ds, (train, valid, test), model = build("ILM", cf_model_config(
        toy, sasrec, phase1_losses=["uic"], phase1_schedule=["user_item"], phase1_steps_per_epoch=1))
    target = model.alignment_target()
    data = AlignmentTrainer(config, target, train._dataset).data
    feat = train._dataset.inter_feat
    rows = torch.arange(len(feat))
    reference = recbole_sasrec(sasrec)
    m = table_mean_norm(reference)
    with torch.no_grad():
        got = target.row_user_vectors(data.user_rows(rows))
        want = reference.forward(feat["item_id_list"], feat["item_length"]) * m / model.cf_model_scale
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_a_cf_model_run_trains_and_its_checkpoint_evaluates_to_the_same_numbers(toy, sasrec):
    """Phases 0-2 run with the mode; the checkpoint (which does not hold SASRec: it reads cf_checkpoint's file again
    on load) scores its test split as the run did."""
    from recbole_ilm.evaluate import evaluate_checkpoint

    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=cf_model_config(
        toy, sasrec, retrieval_head="item_tokens"))
    evaluated = evaluate_checkpoint(result["saved_model_file"])[("full_sort", "seen")]
    assert float(evaluated["ndcg@10"]) == pytest.approx(float(result["test_result"]["ndcg@10"]), abs=1e-4)


@pytest.mark.parametrize("overrides, words", [
    ({"cf_source": "ials"}, ["user_tokens: cf_model", "cf_source: checkpoint", "user_tokens: full_history"]),
])
def test_cf_model_without_a_cf_checkpoint_is_refused_before_training(toy, overrides, words):
    with pytest.raises(ILMConfigError) as err:
        run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(user_tokens="cf_model", **overrides))
    assert all(w in str(err.value) for w in words), str(err.value)


def test_a_cf_model_that_does_not_score_by_its_user_vector_is_refused(toy, sasrec, monkeypatch):
    from recbole.model.sequential_recommender.sasrec import SASRec

    plain = SASRec.full_sort_predict
    monkeypatch.setattr(SASRec, "full_sort_predict", lambda self, interaction: plain(self, interaction) + 1.0)
    with pytest.raises(ILMConfigError, match="user_tokens: cf_model needs a cf_checkpoint model whose scores"):
        build("ILM", cf_model_config(toy, sasrec))


def test_with_the_user_distillation_too_the_cf_checkpoint_is_read_once_and_shared(toy, sasrec, monkeypatch):
    """user_tokens: cf_model and distill_user_weight both read cf_checkpoint's model: the trainer's user teacher is
    the one the model built its user tokens with, not a second copy of the file."""
    import recbole_ilm.retrieval.distill as distill
    import recbole_ilm.retrieval.user_tokens as user_tokens
    from recbole_ilm.model.base import FrozenLLMRecommender

    reads, teachers, plain_read, plain_set = [], [], distill.load_sequential, FrozenLLMRecommender.set_teacher

    def read(config, dataset, path, option):
        reads.append(option)
        return plain_read(config, dataset, path, option)

    def set_teacher(self, teacher, user_teacher=None):
        teachers.append((self, user_teacher))
        return plain_set(self, teacher, user_teacher)

    for module in (distill, user_tokens):
        monkeypatch.setattr(module, "load_sequential", read)
    monkeypatch.setattr(FrozenLLMRecommender, "set_teacher", set_teacher)
    run_recbole_ilm(model="ILM", dataset="toy", config_dict=cf_model_config(
        toy, sasrec, retrieval_head="item_tokens", item_head_cf=True, distill_user_weight=1.0, distill_weight=0.0))
    assert reads.count("cf_checkpoint") == 1, reads
    (model, user_teacher), = teachers
    assert user_teacher is model.cf_user_model
