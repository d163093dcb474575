"""``prompt_user_id: False``: prompts without the user's id (nor its user tokens), as RecBole's sequential models see
no user. With the id, every training row of a user names the same id, so the phase-0 backbone can learn the user's
training items (the row's target among them) by heart through it."""

import numpy as np
import pytest
import torch

from helpers import build
from recbole_ilm.cache import cache_path, options_key
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.quick_start import run_recbole_ilm
from recbole_ilm.trainer.backbone_cache import backbone_dir

SEQUENTIAL_ONLY = {"train_tasks": {"sequential": 1.0}, "eval_task": "sequential"}


def _prompts(model, inter, rows=4):
    lengths = inter["item_length"][:rows]
    return model.prompts.build(inter["user_id"][:rows], inter["item_id_list"][:rows], lengths,
                               ["sequential"] * rows, list(range(rows)), with_slots=True)


def _unpadded(batch, b, field="prompt_ids"):
    return batch[field][b][batch["prompt_mask"][b] > 0]


def test_prompts_without_the_user_are_the_prompts_with_it_less_the_users_block(toy):
    _, _, (train, _, _), named = build("ILM", toy(**SEQUENTIAL_ONLY))
    _, _, _, anonymous = build("ILM", toy(prompt_user_id=False, **SEQUENTIAL_ONLY))
    assert anonymous.prompts.user_ids is False and named.prompts.user_ids is True
    inter = next(iter(train))
    with_user, without = _prompts(named, inter), _prompts(anonymous, inter)
    assert not (without["prompt_slot_user"] > 0).any()
    id_length = named.prompts.user_tokens.shape[1]
    for b in range(4):
        ids, slots = _unpadded(with_user, b), _unpadded(with_user, b, "prompt_slot_user")
        where = (slots > 0).nonzero().flatten()
        start, end = int(where[0]) - id_length, int(where[-1]) + 1  # the user's id tokens, then its slots
        assert torch.equal(ids[start : start + id_length],
                           torch.as_tensor(named.prompts.user_tokens[int(inter["user_id"][b])]))
        assert end - start == id_length + named.num_slots
        torch.testing.assert_close(_unpadded(without, b), torch.cat([ids[:start], ids[end:]]))
    # and nothing else tells two users apart: the same history gives the same prompt
    pair = anonymous.prompts.build([1, 2], np.array([[3, 4, 0], [3, 4, 0]]), [2, 2], ["sequential"] * 2, [5, 5])
    assert torch.equal(pair["prompt_ids"][0], pair["prompt_ids"][1])
    assert named.prompts.max_prompt_length(10) - anonymous.prompts.max_prompt_length(10) == id_length + \
        named.num_slots


def test_the_backbone_cache_key_changes_only_without_the_user(toy):
    config, _, _, named = build("ILM", toy(**SEQUENTIAL_ONLY))
    before = cache_path(config, "backbone", {"prompts": named.prompts.cache_dir.rstrip("/").split("/")[-1],
                                             **options_key(config, "data", "backbone")})
    assert backbone_dir(config, named) == f"{before}/model"  # the caches made before the option are still found
    config_off, _, _, anonymous = build("ILM", toy(prompt_user_id=False, **SEQUENTIAL_ONLY))
    assert anonymous.prompts.cache_dir == named.prompts.cache_dir  # same ids and tokenizer
    assert backbone_dir(config_off, anonymous) != backbone_dir(config, named)


@pytest.mark.parametrize("tasks", [{}, {"eval_task": "straightforward"}])
def test_tasks_without_any_input_are_refused(toy, tasks):
    overrides = {"prompt_user_id": False, **({"train_tasks": {"sequential": 1.0}, **tasks} if tasks else {})}
    with pytest.raises(ILMConfigError, match="prompt_user_id.*train_tasks"):
        build("ILM", toy(**overrides))


def test_a_run_without_the_user_trains_and_evaluates(toy):
    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(prompt_user_id=False,
                                                                         retrieval_head="item_tokens",
                                                                         **SEQUENTIAL_ONLY))
    assert 0.0 <= result["test_result"]["ndcg@10"] <= 1.0
