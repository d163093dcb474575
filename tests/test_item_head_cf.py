"""item_head_cf: the item-token head's output table gains a linear map of each item's CF vector (the Q-Former's own
input), zero at the start (recbole_ilm/retrieval/item_head.py)."""

import pytest
import torch

from helpers import build
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
        start = model.item_head_scores(batch)
        cf_proj, head.cf_proj = head.cf_proj, None
        plain = model.item_head_scores(batch)
        head.cf_proj = cf_proj
        torch.testing.assert_close(start, plain)  # zero at the start: the plain head's scores
        cf_proj.weight.normal_()
        seen, scores = {}, head.scores

        def spy(hidden, table):  # the answer states h_u the head scores with
            seen["hidden"] = hidden
            return scores(hidden, table)

        head.scores = spy
        moved = model.item_head_scores(batch)
        del head.scores
        delta = moved[:, 1:] - start[:, 1:]
        assert (delta.abs() > 1e-6).float().mean() > 0.9  # every item moves, not only some
        # item i moves by h_u . U c_i, c_i = row i of the model's CF table (the Q-Former's input)
        torch.testing.assert_close(delta, seen["hidden"].float() @ cf_proj(model.cf_item[1:]).T, atol=1e-4, rtol=1e-4)
        if head_kind == "item_tokens":  # the sampled columns of training see the same table
            items = torch.tensor([1, 3, 5])
            torch.testing.assert_close(model.item_head_scores(batch, items)[:, 1:], moved[:, items], atol=1e-4,
                                       rtol=1e-4)


def test_item_head_cf_needs_a_head(toy):
    with pytest.raises(ILMConfigError) as err:
        build("ILM", toy(retrieval_head="generative", item_head_cf=True))
    assert "item_head_cf" in str(err.value) and "retrieval_head: item_tokens" in str(err.value)
