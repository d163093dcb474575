"""eval_group_by_length: evaluation batches of users with about the same history length (less padding in the LLM
pass) give every test row the same scores as the dataset's own order (recbole_ilm/data/dataloader.py)."""

import numpy as np
import pytest
import torch

from conftest import toy_config, write_toy_dataset
from helpers import build
from recbole_ilm.data.dataloader import in_row_order
from recbole_ilm.experiments.cell_stats import target_ranks


@pytest.fixture(scope="module")
def ragged_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ragged"))
    write_toy_dataset(root, name="ragged", n_users=60, per_user=lambda u: 6 + u % 9)  # histories of 4 to 12 items
    return root


def rows_and_padding(model, loader):
    """Per-row scores in loader order and the prompt positions the batches hold (padding included)."""
    scores, positions = [], 0
    with torch.no_grad():
        for interaction, _, _, _ in loader:
            scores.append(model.full_sort_predict(interaction))
            positions += interaction["prompt_mask"].numel()
    return torch.cat(scores).numpy(), positions


@pytest.mark.parametrize("head", ["item_tokens", "generative"])
def test_grouped_evaluation_scores_every_row_as_the_dataset_order_does(ragged_root, tmp_path, head):
    options = toy_config(ragged_root, str(tmp_path / "saved"), MAX_ITEM_LIST_LENGTH=12, eval_batch_size=8,
                         retrieval_head=head)
    config, _, (_, _, plain_test), model = build("ILM", {**options, "eval_group_by_length": False}, "ragged")
    _, _, (train, _, grouped_test), _ = build("ILM", options, "ragged", with_model=False)
    model.eval()
    assert plain_test.row_order is None
    order = grouped_test.row_order
    assert not np.array_equal(order, np.arange(len(order)))  # the rows are really visited in another order
    plain, plain_positions = rows_and_padding(model, plain_test)
    grouped, grouped_positions = rows_and_padding(model, grouped_test)
    np.testing.assert_allclose(in_row_order(grouped_test, grouped), plain, rtol=1e-4, atol=1e-4)
    assert grouped_positions < 0.9 * plain_positions  # the point: less padding (6,636 -> 5,652 positions here)

    class Trainer:  # what target_ranks uses of RecBole's trainer
        device = torch.device("cpu")

        def __init__(self):
            self.model = model

        def _full_sort_batch_eval(self, batched):
            interaction, history_index, positive_u, positive_i = batched
            return interaction, model.full_sort_predict(interaction), positive_u, positive_i

    ranks, targets = target_ranks(Trainer(), grouped_test)
    plain_ranks, plain_targets = target_ranks(Trainer(), plain_test)
    assert np.array_equal(targets, plain_targets) and np.array_equal(ranks, plain_ranks)
