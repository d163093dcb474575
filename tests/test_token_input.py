"""``item_token_input: add``: item tokens added to the ids' own embeddings through a zero-initialised gate, so that
phase 2 starts exactly as the text-only phase-0 backbone (BackboneOnly) instead of below it (issue 12, ML-1M)."""

import pytest
import torch

from helpers import build
from recbole_ilm.checkpoint_io import read_checkpoint
from recbole_ilm.quick_start import run_recbole_ilm


def _batch(model, inter, with_slots=True, rows=4):
    lengths = torch.tensor([10, 7, 3, 1][:rows]).clamp(max=inter["item_length"][:rows])
    return model.prompts.build(inter["user_id"][:rows], inter["item_id_list"][:rows], lengths,
                               ["sequential"] * (rows - 1) + ["straightforward"], [0] * rows, with_slots=with_slots)


def test_add_marks_the_ids_own_tokens_and_inserts_nothing(toy):
    config, ds, (train, valid, test), model = build("ILM", toy(item_token_input="add"))
    inter = next(iter(valid))[0]
    added, text = _batch(model, inter), _batch(model, inter, with_slots=False)
    assert torch.equal(added["prompt_ids"], text["prompt_ids"])  # the text-only prompt, token for token
    assert torch.equal(added["prompt_mask"], text["prompt_mask"])
    marked = added["prompt_slot_rank"] >= 0
    assert (added["prompt_slot_rank"][marked] == 0).all()
    ids = added["prompt_ids"]
    first_id_token = torch.as_tensor(model.prompts.item_tokens[1:, 0])  # "item_" (and "user_") start every id
    for b in range(ids.shape[0]):
        owners = added["prompt_slot_item"][b][added["prompt_slot_item"][b] > 0]
        history = inter["item_id_list"][b][: int(min(inter["item_length"][b], [10, 7, 3, 1][b]))]
        if b < 3:  # sequential: every history item's whole id is marked with that item, in order
            assert torch.equal(torch.unique_consecutive(owners), history)
            assert len(owners) == len(history) * model.prompts.item_tokens.shape[1]
        else:  # straightforward: no history, only the user's id
            assert len(owners) == 0
        user_marked = added["prompt_slot_user"][b] > 0
        assert int(user_marked.sum()) == model.prompts.user_tokens.shape[1]
        assert (ids[b][added["prompt_slot_item"][b] > 0][:: model.prompts.item_tokens.shape[1]]
                == first_id_token[0]).all()
    assert model.prompts.max_prompt_length(10, True) == model.prompts.max_prompt_length(10, False)


@pytest.mark.parametrize("head", ["hybrid", "generative"])
def test_added_tokens_start_as_the_backbone_then_add_gate_times_their_mean(toy, head):
    """At initialisation (gate 0, hybrid head 0) ILM's scores are BackboneOnly's on the same LLM, exactly; with the
    gate open, each marked position holds its text embedding plus gate * the mean of its entity's tokens."""
    config, ds, (train, valid, test), model = build("ILM", toy(item_token_input="add", retrieval_head=head))
    _, _, _, backbone = build("BackboneOnly", toy())
    backbone.llm.load_state_dict(model.llm.state_dict())
    model.eval(), backbone.eval()
    inter = next(iter(valid))[0]
    batch, text = _batch(model, inter), _batch(backbone, inter, with_slots=False)
    with torch.no_grad():
        torch.testing.assert_close(model.full_sort_predict(batch), backbone.full_sort_predict(text))
        torch.nn.init.normal_(model.token_gate, std=1.0)
        embeds = model.embed_prompt(batch)
        plain = model.llm.get_input_embeddings()(batch["prompt_ids"])
        for field, table in (("prompt_slot_item", model.cf_item), ("prompt_slot_user", model.cf_user)):
            b, t = (batch[field] > 0).nonzero()[0]
            entity = int(batch[field][b, t])
            expected = plain[b, t] + model.token_gate * model.encode_entities(table[entity : entity + 1])[0].mean(0)
            torch.testing.assert_close(embeds[b, t], expected)
        untouched = (batch["prompt_slot_rank"] < 0)
        torch.testing.assert_close(embeds[untouched], plain[untouched])
        assert not torch.allclose(model.full_sort_predict(batch), backbone.full_sort_predict(text))


@pytest.mark.parametrize("model_name", ["ILM", "MLPAdapter"])
def test_the_gate_trains_from_zero_and_the_llm_stays_frozen(toy, model_name):
    config, ds, (train, valid, test), model = build(model_name, toy(item_token_input="add", retrieval_head="hybrid"))
    model.set_phase(2)
    model.train()
    assert any(p is model.token_gate for p in model.trainable_parameters())
    model.calculate_loss(next(iter(train))).backward()
    assert model.token_gate.grad.abs().sum() > 0  # the only way out of zero
    assert all(p.grad is None for p in model.llm.parameters())


def test_add_runs_from_an_insert_checkpoint_and_saves_its_gate(toy):
    first = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(phase=0))
    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(
        phase=2, init_checkpoint=first["saved_model_file"], item_token_input="add", retrieval_head="hybrid"))
    assert "token_gate" not in read_checkpoint(first["saved_model_file"])["state_dict"]
    assert read_checkpoint(result["saved_model_file"])["state_dict"]["token_gate"].shape == (32,)


def test_the_chat_refuses_added_tokens(toy):
    from recbole_ilm.chat.model import ItemChatLM
    from recbole_ilm.errors import ILMConfigError

    model = build("ILM", toy(item_token_input="add"))[3]
    with pytest.raises(ILMConfigError, match="item_token_input: insert"):
        ItemChatLM(model)


def test_phase2_keeps_its_start_the_backbone_unless_an_epoch_beats_it(toy, caplog):
    """With added tokens phase 2 starts as BackboneOnly; its start is validated and saved first, so a phase 2 that
    only makes things worse (here: a learning rate that wrecks the gate) ends where it started."""
    import logging

    backbone = run_recbole_ilm(model="BackboneOnly", dataset="toy", config_dict=toy())
    caplog.set_level(logging.INFO)
    ruined = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(
        item_token_input="add", retrieval_head="hybrid", phase1_epochs=0, learning_rate=1e4, epochs=2, state="INFO"))
    assert "phase 2 starts as the backbone" in caplog.text
    for key in ("best_valid_result", "test_result"):
        assert ruined[key] == pytest.approx(backbone[key], abs=1e-4), key


@pytest.mark.parametrize("head,token_input,expected", [("hybrid", "add", True), ("generative", "add", True),
                                                       ("item_tokens", "add", False), ("hybrid", "insert", False)])
def test_only_zero_started_models_start_as_the_backbone(toy, head, token_input, expected):
    model = build("ILM", toy(item_token_input=token_input, retrieval_head=head))[3]
    assert model.starts_as_backbone() is expected
