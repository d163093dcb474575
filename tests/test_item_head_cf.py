"""item_head_cf: the item-token head's output table gains a linear map of each item's CF vector (the Q-Former's own
input), zero at the start (recbole_ilm/retrieval/item_head.py)."""

import pytest
import torch

from helpers import build, moved_by_head_addition
from recbole_ilm.errors import ILMConfigError


@pytest.mark.parametrize("head_kind", ["item_tokens", "hybrid"])
def test_item_head_cf_starts_at_zero_and_adds_the_answer_state_times_u_c_for_every_item(toy, head_kind):
    config, ds, (train, valid, test), model = build("ILM", toy(retrieval_head=head_kind, item_head_cf=True))
    model.set_phase(2)
    model.eval()
    head = model.item_head
    assert head.cf_proj.weight.shape == (model.llm_width, model.cf_item.shape[1])
    batch = model._prompt_batch(next(iter(valid))[0])
    with torch.no_grad():
        moved, delta, hidden = moved_by_head_addition(model, batch, "cf_proj")
        # item i moves by h_u . U c_i, c_i = row i of the model's CF table (the Q-Former's input)
        torch.testing.assert_close(delta, hidden @ head.cf_proj(model.cf_item[1:]).T, atol=1e-4, rtol=1e-4)
        if head_kind == "item_tokens":  # the sampled columns of training see the same table
            items = torch.tensor([1, 3, 5])
            torch.testing.assert_close(model.item_head_scores(batch, items)[:, 1:], moved[:, items], atol=1e-4,
                                       rtol=1e-4)


def test_item_head_cf_needs_a_head(toy):
    with pytest.raises(ILMConfigError) as err:
        build("ILM", toy(retrieval_head="generative", item_head_cf=True))
    assert "item_head_cf" in str(err.value) and "retrieval_head: item_tokens" in str(err.value)
