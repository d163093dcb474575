"""Issue 12's per-cell numbers: examples seen, the timed test pass and NDCG@10 by target popularity."""

import numpy as np
import pytest
import torch

from recbole_ilm.experiments.cell_stats import cell_stats, ndcg_at
from recbole_ilm.quick_start import run_recbole_ilm


def test_ndcg_of_one_relevant_item_by_rank():
    np.testing.assert_allclose(ndcg_at([0, 1, 2, 9, 10, 500]), [1, 1 / np.log2(3), 0.5, 1 / np.log2(11), 0, 0])


@pytest.mark.parametrize("model_name, extra", [("SASRec", {"epochs": 2}), ("MLPAdapter", {})])
def test_timed_test_pass_agrees_with_recbole_and_splits_targets_in_thirds(toy, model_name, extra):
    result = run_recbole_ilm(model=model_name, dataset="toy", config_dict=toy(**extra), after_test=cell_stats)
    stats = result["after_test"]
    assert stats["ndcg@10"] == pytest.approx(float(result["test_result"]["ndcg@10"]), abs=1e-4)
    buckets = stats["ndcg@10_by_popularity"]
    assert sum(b["rows"] for b in buckets.values()) == stats["test_users"]
    assert max(b["rows"] for b in buckets.values()) - min(b["rows"] for b in buckets.values()) <= 1
    assert buckets["bottom"]["train_count"][1] <= buckets["middle"]["train_count"][0]
    assert buckets["middle"]["train_count"][1] <= buckets["top"]["train_count"][0]
    weighted = sum(b["ndcg"] * b["rows"] for b in buckets.values()) / stats["test_users"]
    assert weighted == pytest.approx(stats["ndcg@10"])
    seen = stats["examples_seen"]
    if model_name == "SASRec":
        assert seen["train"] > 0 and seen["train"] % 2 == 0
    else:
        assert set(seen) == {"phase0", "phase2"} and seen["phase2"] > 0
    assert 0 <= stats["test_eval_seconds"] < result["after_test"]["test_users"]  # seconds, not ms


def test_a_cached_backbone_still_counts_the_examples_it_was_trained_on(toy):
    first = run_recbole_ilm(model="BackboneOnly", dataset="toy", config_dict=toy(), after_test=cell_stats)
    again = run_recbole_ilm(model="MLPAdapter", dataset="toy", config_dict=toy(), after_test=cell_stats)
    assert first["after_test"]["examples_seen"]["phase0"] > 0
    assert again["after_test"]["examples_seen"]["phase0"] == first["after_test"]["examples_seen"]["phase0"]


def test_cells_keep_per_row_ranks_for_paired_comparisons(toy):
    stats = run_recbole_ilm(model="SASRec", dataset="toy", config_dict=toy(epochs=1), after_test=cell_stats)["after_test"]
    assert len(stats["test_ranks"]) == len(stats["test_targets"]) == stats["test_users"]
    assert np.mean(ndcg_at(stats["test_ranks"])) == pytest.approx(stats["ndcg@10"])


def test_masked_target_ranks_leave_out_padding_and_the_users_history():
    from recbole_ilm.experiments.cell_stats import masked_target_ranks

    scores = torch.tensor([[9.0, 0.5, 0.9, 0.1, 0.7],    # row 0: target 1, item 2 in its history
                           [9.0, 0.2, 0.3, 0.8, 0.1]])   # row 1: target 4, nothing masked
    history = (torch.tensor([0]), torch.tensor([2]))
    ranks = masked_target_ranks(scores.clone(), history, torch.tensor([0, 1]), torch.tensor([1, 4]))
    assert ranks.tolist() == [1, 3]  # row 0: only item 4 above (padding and item 2 masked); row 1: items 3, 2, 1
    assert masked_target_ranks(scores.clone(), None, torch.tensor([0]), torch.tensor([1])).tolist() == [2]
