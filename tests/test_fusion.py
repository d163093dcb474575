"""Issue 12: ``backbone_fusion`` (item-token head + w x the frozen backbone's own id log-likelihood) and the tool
that picks w on the validation split (``python -m recbole_ilm.experiments.fusion``)."""

import math
from collections import Counter

import pytest
import torch

from helpers import build
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.evaluate import evaluate_checkpoint
from recbole_ilm.experiments import fusion
from recbole_ilm.experiments.cell_stats import ndcg_at, ranks_of_targets, target_ranks
from recbole_ilm.lookup import get_trainer
from recbole_ilm.quick_start import run_recbole_ilm


def test_fusion_adds_what_backbone_only_scores_with_the_same_llm(toy):
    """The fused score is the head's plus w times BackboneOnly's own score of the same LLM on its text-only prompt
    (not the ILM prompt, whose inserted item tokens the phase-0 backbone never saw)."""
    _, _, (_, valid, _), model = build("ILM", toy(retrieval_head="item_tokens", backbone_fusion=0.5))
    _, _, (_, bo_valid, _), backbone_only = build("BackboneOnly", toy())
    backbone_only.load_state_dict({k: v for k, v in model.state_dict().items() if k.startswith("llm.")},
                                  strict=False)
    assert (model.prompts.item_tokens == backbone_only.prompts.item_tokens).all()
    inter, bo_inter = next(iter(valid))[0], next(iter(bo_valid))[0]
    assert torch.equal(inter["user_id"], bo_inter["user_id"])
    with torch.no_grad():
        model.eval()
        backbone_only.eval()
        fused = model.full_sort_predict(inter)
        model.config["backbone_fusion"] = 0
        head = model.full_sort_predict(inter)
        text_only = backbone_only.full_sort_predict(bo_inter)
    torch.testing.assert_close(fused[:, 1:], head[:, 1:] + 0.5 * text_only[:, 1:], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(fused[:, 1:], head[:, 1:])


def test_the_tool_ranks_exactly_as_the_trainer_does_at_each_weight(toy):
    config, _, (_, valid, _), model = build("ILM", toy(retrieval_head="item_tokens"))
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    ranks, targets, _ = fusion.fusion_ranks(model, valid, [0, 0.5, 2])
    for w in (0, 0.5, 2):
        model.config["backbone_fusion"] = w
        expected, expected_targets = target_ranks(trainer, valid)
        assert (ranks[(w, 0.0)] == expected).all() and (targets == expected_targets).all()
    assert not (ranks[(0, 0.0)] == ranks[(2, 0.0)]).all()


def test_the_popularity_prior_adds_b_log_one_plus_the_training_count(toy):
    """``--priors``: each pair (w, b) ranks by the trainer's fused score + b * log(1 + training count), the count
    taken from the training split only."""
    config, _, (train, valid, _), model = build("ILM", toy(retrieval_head="item_tokens"))
    dataset = train._dataset
    counts = Counter(dataset.inter_feat[dataset.iid_field].tolist())
    prior = fusion.log_popularity(dataset)
    assert prior.shape == (dataset.item_num,) and prior[0] == 0
    assert all(prior[i] == pytest.approx(math.log(1 + counts.get(i, 0))) for i in range(dataset.item_num))
    assert len(set(counts.values())) > 1  # the toy's items differ in popularity, so the prior reorders them

    ranks, _, _ = fusion.fusion_ranks(model, valid, [0.5], [0.0, -2.0, 3.0], prior)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.tot_item_num, trainer.item_tensor = dataset.item_num, dataset.get_item_feature()
    model.config["backbone_fusion"] = 0.5
    model.eval()
    for b in (0.0, -2.0, 3.0):
        expected = []
        with torch.no_grad():
            for batched in valid:  # the trainer's own masked scores (padding, history at -inf), then the prior
                _, scores, positive_u, positive_i = trainer._full_sort_batch_eval(batched)
                expected.append(ranks_of_targets(scores + b * prior, positive_u, positive_i))
        assert (ranks[(0.5, b)] == torch.cat(expected).numpy()).all(), b
    assert not (ranks[(0.5, -2.0)] == ranks[(0.5, 3.0)]).all()
    with pytest.raises(ValueError, match="prior="):
        fusion.fusion_ranks(model, valid, [0], [1.0])  # a prior weight without the prior


def test_popularity_prior_option_ranks_as_the_tool_does(toy):
    """``popularity_prior: b`` in the model's own full_sort_predict = the tool's pair (w, b): the same prior, taken
    from the training split the model is built on, and the same fused score."""
    config, _, (train, valid, _), model = build(
        "ILM", toy(retrieval_head="item_tokens", backbone_fusion=0.5, popularity_prior=-2.0))
    prior = fusion.log_popularity(train._dataset)
    assert torch.equal(model.log_popularity, prior)
    assert "log_popularity" not in model.state_dict()  # rebuilt on load, so any checkpoint takes any prior
    ranks, _, _ = fusion.fusion_ranks(model, valid, [0.5], [-2.0, 0.0], prior)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    with_prior, _ = target_ranks(trainer, valid)
    assert (ranks[(0.5, -2.0)] == with_prior).all()
    model.config["popularity_prior"] = 0.0
    without, _ = target_ranks(trainer, valid)
    assert (ranks[(0.5, 0.0)] == without).all() and not (with_prior == without).all()


def test_the_weight_is_chosen_on_valid_and_weight_zero_is_the_trained_head(toy):
    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(retrieval_head="item_tokens"))
    chosen = fusion.choose_weight(result["saved_model_file"], [0, 0.3, 1])
    table = chosen["ndcg@10"]
    assert chosen["chosen_on_valid"] == max((0, 0.3, 1), key=lambda w: (table[str(w)]["valid"], -w))
    assert table["0"]["test"] == pytest.approx(float(result["test_result"]["ndcg@10"]), abs=1e-4)
    assert chosen["test_ndcg@10"] == pytest.approx(float(ndcg_at(chosen["test_ranks"]).mean()))
    assert len(chosen["test_ranks"]) == len(chosen["test_targets"]) > 0
    assert "prior_chosen_on_valid" not in chosen

    with_prior = fusion.choose_weight(result["saved_model_file"], [0, 1], priors=[0, -1, 2])
    table = with_prior["ndcg@10"]
    assert set(table) == {"0", "0 prior -1", "0 prior 2", "1", "1 prior -1", "1 prior 2"}
    best = max(table.values(), key=lambda row: row["valid"])["valid"]
    chosen_name = fusion.pair_name(with_prior["chosen_on_valid"], with_prior["prior_chosen_on_valid"])
    assert table[chosen_name]["valid"] == best and with_prior["test_ndcg@10"] == table[chosen_name]["test"]
    assert table["0"] == chosen["ndcg@10"]["0"] and table["1"] == chosen["ndcg@10"]["1"]

    # the chosen pair, set on the checkpoint at evaluation time (no retraining), gives the tool's test number
    pair = {"backbone_fusion": with_prior["chosen_on_valid"], "popularity_prior": with_prior["prior_chosen_on_valid"]}
    for options, expected in ((pair, with_prior["test_ndcg@10"]),
                              ({"popularity_prior": -1.0}, table["0 prior -1"]["test"])):
        evaluated = evaluate_checkpoint(result["saved_model_file"], options=options)[("full_sort", "seen")]
        assert float(evaluated["ndcg@10"]) == pytest.approx(expected, abs=1e-4), options
    with pytest.raises(ILMConfigError, match="epochs"):
        evaluate_checkpoint(result["saved_model_file"], options={"epochs": 3})


@pytest.mark.parametrize("overrides, words", [
    ({"retrieval_head": "generative", "backbone_fusion": 0.5}, ["backbone_fusion", "retrieval_head: item_tokens"]),
    ({"retrieval_head": "hybrid", "backbone_fusion": 0.5}, ["backbone_fusion", "already includes it"]),
    ({"retrieval_head": "item_tokens", "backbone_fusion": -1}, ["backbone_fusion"]),
    ({"retrieval_head": "generative", "popularity_prior": -1}, ["popularity_prior", "retrieval_head: item_tokens"]),
    ({"retrieval_head": "hybrid", "popularity_prior": 0.5}, ["popularity_prior", "retrieval_head: hybrid"]),
    ({"retrieval_head": "item_tokens", "popularity_prior": "rare"}, ["popularity_prior", "number"]),
])
def test_fusion_refuses_what_it_cannot_do(toy, overrides, words):
    with pytest.raises(ILMConfigError) as err:
        build("ILM", toy(**overrides))
    assert all(w in str(err.value) for w in words)


def test_the_tool_names_bad_weights(capsys):
    assert fusion.main(["--checkpoint", "unused.pth", "--weights", "0,-1"]) == 2
    assert "--weights" in capsys.readouterr().err
    assert fusion.main(["--checkpoint", "unused.pth", "--priors", "0,a"]) == 2
    assert "--priors" in capsys.readouterr().err
