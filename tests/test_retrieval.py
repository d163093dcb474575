"""Issue 4: frozen LLM, interleaving, exact scoring, beam search, baselines, the three-phase trainer."""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import build
from recbole_ilm.checkpoint_io import read_checkpoint as load_checkpoint
from recbole_ilm.data.tokenizer import id_token_table
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.model.base import FrozenLLMRecommender
from recbole_ilm.quick_start import load_data_and_model, run_recbole_ilm
from recbole_ilm.llm.backbone import prompt_positions, run_llm


def _eval_batch(loader, model):
    interaction = next(iter(loader))[0]
    return interaction.to(model.device)


def brute_force_scores(model, batch):
    """log p(id tokens of every item | prompt) by one teacher-forced forward per item."""
    embeds = model.embed_prompt(batch)
    mask = batch["prompt_mask"]
    table = torch.as_tensor(model.prompts.item_tokens)
    out = torch.full((embeds.shape[0], table.shape[0]), float("-inf"))
    for item in range(1, table.shape[0]):
        target = table[item].expand(embeds.shape[0], -1)
        full = torch.cat([embeds, model.llm.get_input_embeddings()(target)], dim=1)
        full_mask = torch.cat([mask, torch.ones_like(target)], dim=1)
        logits = run_llm(model.llm, full, full_mask, prompt_positions(full_mask))
        logp = F.log_softmax(logits[:, -target.shape[1] - 1 : -1].float(), dim=-1)
        out[:, item] = logp.gather(2, target.unsqueeze(-1)).squeeze(-1).sum(dim=1)
    return out


@pytest.mark.parametrize("model_name", ["ILM", "BackboneOnly"])
def test_full_sort_scores_equal_brute_force_log_likelihoods(catalogue, model_name):
    make, name = catalogue
    config, ds, (train, valid, test), model = build(model_name, make(), dataset=name)
    model.eval()
    if name == "wide":  # the trie really branches: several nodes at an inner level
        assert train._dataset.item_num - 1 >= 150 and model.trie.length == 4
        assert max(len(t) for t in model.trie.level_tokens) > 1
    batch = _eval_batch(valid, model)
    batch = {k: batch[k][:5] for k in ("prompt_ids", "prompt_mask", "prompt_slot_item", "prompt_slot_user",
                                      "prompt_slot_rank")}
    fast = model.full_sort_predict(batch)
    assert fast.shape == (5, train._dataset.item_num)
    assert torch.isinf(fast[:, 0]).all()
    slow = brute_force_scores(model, batch)
    torch.testing.assert_close(fast[:, 1:], slow[:, 1:], atol=2e-5, rtol=1e-5)


def test_shared_id_tokens_are_scored_in_the_prompt_pass(catalogue, monkeypatch):
    """Every id starts with ``▁item_``: it is appended to the prompt, so scoring all items takes one LLM call per
    trie level below it (the toy: one call; the wide toy, ids of 4 tokens: three), not one per level."""
    import recbole_ilm.retrieval.scoring as scoring

    make, name = catalogue
    config, ds, (train, valid, test), model = build("ILM", make(), dataset=name)
    model.eval()
    calls = []
    real = scoring.run_llm
    monkeypatch.setattr(scoring, "run_llm", lambda *a, **k: calls.append(1) or real(*a, **k))
    with torch.no_grad():
        model.full_sort_predict(_eval_batch(valid, model))
    assert len(calls) == model.trie.length - 1
    assert model.trie.shared == 1


def test_scores_do_not_depend_on_batch_padding(catalogue):
    make, name = catalogue
    config, ds, (train, valid, test), model = build("ILM", make(), dataset=name)
    model.eval()
    inter = next(iter(valid))[0]
    lengths = torch.tensor([10, 7, 3, 1, 5, 10]).clamp(max=inter["item_length"][:6])  # histories of unequal length
    batch = model.prompts.build(inter["user_id"][:6], inter["item_id_list"][:6], lengths, ["sequential"] * 6,
                                [0] * 6, with_slots=True)
    keys = ("prompt_ids", "prompt_mask", "prompt_slot_item", "prompt_slot_user", "prompt_slot_rank")
    together = model.full_sort_predict(batch)
    widths = [int(batch["prompt_mask"][b].sum()) for b in range(6)]
    assert len(set(widths)) > 2  # rows are padded by different amounts
    for b in range(6):
        alone = model.full_sort_predict({k: batch[k][b : b + 1, -widths[b]:] for k in keys})
        torch.testing.assert_close(alone[0, 1:], together[b, 1:], atol=2e-5, rtol=1e-5)


def test_prompt_without_slots_gives_exactly_the_backbone_logits(toy):
    config, ds, (train, valid, test), model = build("ILM", toy())
    model.eval()
    inter = next(iter(valid))[0]
    text_only = model.prompts.from_interaction(inter[:1], config, with_slots=False)
    with torch.no_grad():
        ilm_logits = run_llm(model.llm, model.embed_prompt(text_only), text_only["prompt_mask"],
                             prompt_positions(text_only["prompt_mask"]))
        plain = model.llm(input_ids=text_only["prompt_ids"]).logits
    assert torch.equal(ilm_logits, plain)
    with_slots = model.prompts.from_interaction(inter[:1], config, with_slots=True)
    assert (with_slots["prompt_slot_rank"] >= 0).any()
    assert not torch.equal(model.embed_prompt(with_slots)[0, :3], model.embed_prompt(with_slots)[0, :3] + 1)


def test_constrained_beam_search_returns_valid_ids_and_matches_exact_top10(catalogue):
    make, name = catalogue
    config, ds, (train, valid, test), model = build("ILM", make(), dataset=name)
    model.eval()
    batch = _eval_batch(valid, model)
    n_items = train._dataset.item_num - 1
    exact = model.full_sort_predict(batch)
    items = model.beam_predict(batch, beam_size=10, constrained=True)
    assert ((items >= 1) & (items <= n_items)).all()
    assert all(len(set(row)) == len(row) for row in items.tolist())
    # the beams come out in the order of their exact log-likelihoods
    beam_scores = exact.gather(1, items)
    assert (beam_scores[:, :-1] >= beam_scores[:, 1:] - 1e-5).all()
    # a beam as wide as the catalogue prunes nothing: its first 10 are exactly the 10 best items
    wide = model.beam_predict(batch, beam_size=n_items, constrained=True)
    top = exact[:, 1:].topk(10).indices + 1
    torch.testing.assert_close(exact.gather(1, wide[:, :10]), exact.gather(1, top), atol=1e-5, rtol=1e-5)
    if name == "toy":  # ids [item_, c]: one inner node, so even 10 beams are exactly the 10 best items
        assert torch.equal(items, top)
    free = model.beam_predict(batch, beam_size=10, constrained=False)
    assert ((free == -1) | ((free >= 1) & (free <= n_items))).all()


def test_mlp_and_ilm_share_everything_but_the_item_encoder(toy):
    _, _, _, ilm = build("ILM", toy())
    _, _, _, mlp = build("MLPAdapter", toy())
    outside = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()  # noqa: E731
                         if not k.startswith(("item_encoder.", "text_"))}
    assert outside(ilm) == outside(mlp)
    for method in ("calculate_loss", "full_sort_predict", "embed_prompt", "beam_predict", "trainable_parameters"):
        assert getattr(type(ilm), method) is getattr(FrozenLLMRecommender, method)
        assert getattr(type(mlp), method) is getattr(FrozenLLMRecommender, method)
    hidden = mlp.item_encoder[0].out_features
    assert hidden == 10 * mlp.cf_dim
    tokens = mlp.encode_entities(mlp.cf_item[1:4])
    assert tokens.shape == ilm.encode_entities(ilm.cf_item[1:4]).shape == (3, 2, ilm.llm_width)


def test_frozen_llm_is_bit_identical_after_phase2(toy):
    first = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(phase=0))
    before = {k: v.clone() for k, v in load_checkpoint(first["saved_model_file"])["state_dict"].items()
              if k.startswith("llm.")}
    from recbole_ilm.config import Config
    from recbole_ilm.data.dataset import create_dataset, data_preparation
    from recbole_ilm.lookup import get_model, get_trainer

    config = Config(model="ILM", dataset="toy", config_dict=toy(phase=2, init_checkpoint=first["saved_model_file"],
                                                                 epochs=2))
    ds = create_dataset(config)
    train, valid, test = data_preparation(config, ds)
    model = get_model("ILM")(config, train._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "ILM")(config, model)
    trainer.fit(train, valid, saved=True)
    optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert optimized and not optimized & {id(p) for p in model.llm.parameters()}
    assert not any(p.requires_grad for p in model.llm.parameters()) and not model.llm.training
    after = {k: v for k, v in model.state_dict().items() if k.startswith("llm.")}
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    encoder_before = load_checkpoint(first["saved_model_file"])["state_dict"]["item_encoder.adaptor.weight"]
    assert not torch.equal(encoder_before, model.item_encoder.adaptor.weight)  # ... while the encoder trained


@pytest.mark.parametrize("model_name", ["BackboneOnly", "MLPAdapter", "ILM"])
def test_each_model_trains_and_tests_on_toy_data(toy, model_name):
    result = run_recbole_ilm(model=model_name, dataset="toy", config_dict=toy())
    assert set(result["test_result"]) == {"hit@5", "hit@10", "ndcg@5", "ndcg@10", "mrr@5", "mrr@10"}
    assert os.path.isfile(result["saved_model_file"])


def test_backbone_is_pretrained_once_and_reused(toy, caplog):
    import logging

    run_recbole_ilm(model="BackboneOnly", dataset="toy", config_dict=toy())
    caplog.set_level(logging.INFO)
    run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(state="INFO"))
    assert "pretrained backbone loaded from" in caplog.text


@pytest.mark.parametrize("mode", ["beam", "beam_constrained"])
def test_beam_evaluation_modes(toy, mode, caplog):
    import logging

    caplog.set_level(logging.INFO)
    result = run_recbole_ilm(model="MLPAdapter", dataset="toy", config_dict=toy(eval_mode=mode, state="INFO"))
    metrics = {"hit@5", "hit@10", "ndcg@5", "ndcg@10", "mrr@5", "mrr@10"}
    assert set(result["test_result"]) == metrics | {"invalid_ids"}
    assert result["test_result"]["hit@5"] <= result["test_result"]["hit@10"]
    assert 0.0 <= result["test_result"]["invalid_ids"] <= 1.0
    if mode == "beam_constrained":
        assert result["test_result"]["invalid_ids"] == 0.0
    assert "are not catalogue ids" in caplog.text


def test_beam_rank_metrics_on_hand_made_ranks():
    from recbole_ilm.trainer.beam_eval import rank_metrics

    ranked = torch.tensor([[5, 3, 9], [-1, 7, 2], [1, 2, 4], [8, -1, -1]])
    targets = torch.tensor([3, 2, 6, 8])
    # ranks: 2; 2 (the invalid first beam is removed); none; 1
    got = rank_metrics(ranked, targets, [1, 2], ["Hit", "NDCG", "MRR"])
    expected = {"hit@1": 1, "hit@2": 3, "ndcg@1": 1, "ndcg@2": 1 + 2 / np.log2(3), "mrr@1": 1, "mrr@2": 2}
    for key, value in expected.items():
        assert abs(got[key] - value) < 1e-9, key


def test_topk_beyond_beam_size_warns(toy, caplog):
    import logging

    from recbole_ilm.trainer.beam_eval import beam_metrics

    config, ds, (train, valid, test), model = build("MLPAdapter", toy())
    model.eval()
    config["beam_size"] = 5
    with caplog.at_level(logging.WARNING):
        beam_metrics(model, test, config, constrained=True)
    assert "reaches beyond beam_size 5" in caplog.text


def test_saved_model_reloads_with_identical_scores(toy):
    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy())
    config, model, ds, train, valid, test = load_data_and_model(result["saved_model_file"])
    model.eval()
    batch = _eval_batch(test, model)
    again = load_data_and_model(result["saved_model_file"])[1].eval()
    torch.testing.assert_close(model.full_sort_predict(batch), again.full_sort_predict(batch))


def test_cold_item_is_scored(tmp_path, toy):
    from conftest import write_toy_dataset

    root = str(tmp_path / "data")
    path = write_toy_dataset(root, name="cold")
    with open(os.path.join(path, "cold.inter"), "a") as f:  # i99 appears once: as user u1's last (test) item
        f.write("u1\ti99\t1000\n")
    with open(os.path.join(path, "cold.item"), "a") as f:
        f.write("i99\tbrand new film\tdrama\n")
    cfg = toy(data_path=root, user_inter_num_interval="[0,inf)", item_inter_num_interval="[0,inf)")
    config, ds, (train, valid, test), model = build("ILM", cfg, dataset="cold")
    cold = train._dataset.token2id("item_id", "i99")
    assert not model.cf_item[cold].any()  # no training interaction -> no CF signal
    scores = model.eval().full_sort_predict(_eval_batch(test, model))
    assert torch.isfinite(scores[:, cold]).all()
    result = run_recbole_ilm(model="ILM", dataset="cold", config_dict=cfg)
    assert "ndcg@10" in result["test_result"]


def test_llm_path_that_is_not_a_causal_lm(tmp_path, toy):
    from transformers import BertConfig, BertModel, T5Config, T5ForConditionalGeneration

    bert = tmp_path / "bert"
    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)) \
        .save_pretrained(bert)
    (tmp_path / "empty").mkdir()
    from recbole_ilm.llm.backbone import load_causal_lm

    with pytest.raises(ILMConfigError, match="is not a causal LM"):
        load_causal_lm(str(bert))
    with pytest.raises(ILMConfigError, match="no readable config.json"):
        load_causal_lm(str(tmp_path / "empty"))
    t5 = tmp_path / "t5"
    T5ForConditionalGeneration(T5Config(d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8)).save_pretrained(t5)
    with pytest.raises(ILMConfigError, match="encoder-decoder"):
        load_causal_lm(str(t5))


def test_tokenizer_splitting_ids_into_different_lengths():
    from recbole_ilm.data.indexing import IdIndex

    class DigitMerging:  # like GPT-2's BPE, which merges some digit runs and not others
        kind, model_file, pad_id = "huggingface", "gpt2-like", 0

        def encode_id(self, text):
            digits = text.split("_")[1]
            return [1] + ([2] if digits.startswith("0") else [2, 3])

    index = IdIndex.random("item_", 12, seed=0, digits_per_token=2)
    with pytest.raises(ILMConfigError, match="splits item_ids into different lengths"):
        id_token_table(DigitMerging(), index)


def test_phase_option_runs_one_phase_from_a_checkpoint(toy):
    first = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(phase=0))
    assert "phase0" in first["saved_model_file"]
    second = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(phase=1))  # backbone from the cache
    assert "phase1" in second["saved_model_file"]
    third = run_recbole_ilm(model="ILM", dataset="toy",
                            config_dict=toy(phase=2, init_checkpoint=second["saved_model_file"]))
    assert "phase2" in third["saved_model_file"]
    with pytest.raises(ILMConfigError, match="run phase 0 first"):
        run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(phase=2, seed=99))


def test_phase0_loss_ignores_left_padding(toy):
    """The causal-LM loss of a left-padded row equals its loss alone: the last pad position is not trained to
    predict BOS (token-weighted mean over the batch)."""
    config, ds, (train, valid, test), model = build("BackboneOnly", toy())
    model.set_phase(0)
    model.eval()
    builder = model.prompts
    users, targets = np.array([1, 2]), np.array([5, 6])
    hist = np.array([[3, 0, 0, 0, 0], [4, 7, 8, 9, 10]])
    lengths = np.array([1, 5])

    def batch(rows):
        return builder.build(users[rows], hist[rows], lengths[rows], ["sequential"] * len(rows), [0] * len(rows),
                             targets=targets[rows], with_slots=False)

    def labelled(b):
        return int(b["prompt_mask"].sum()) + b["target_ids"].shape[1] - 1

    with torch.no_grad():
        both = batch([0, 1])
        assert (both["prompt_mask"][0] == 0).any()  # the short row is padded
        alone = [batch([k]) for k in (0, 1)]
        expected = sum(float(model.calculate_loss(b)) * labelled(b) for b in alone) / sum(map(labelled, alone))
        assert abs(float(model.calculate_loss(both)) - expected) < 1e-5


def test_checkpoint_carries_its_ids_and_tokenizer(toy, tmp_path, monkeypatch):
    """A checkpoint evaluates the same from another working directory whose cache holds other ids."""
    import json
    import shutil

    from recbole_ilm.data import prompt_cache
    from recbole_ilm.evaluate import evaluate_checkpoint

    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy())
    expected = evaluate_checkpoint(result["saved_model_file"])[("full_sort", "seen")]
    checkpoint = load_checkpoint(result["saved_model_file"])
    assert isinstance(checkpoint["prompts"]["tokenizer"], bytes) and checkpoint["prompts"]["item_index"]["codes"]
    for index_file in glob_files(toy()["checkpoint_dir"], "item_index.json"):  # another cache: other ids
        index = json.load(open(index_file))
        index["codes"] = [0] + index["codes"][:0:-1]
        json.dump(index, open(index_file, "w"))
    prompt_cache._MEMO.clear()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    moved = str(elsewhere / "model.pth")
    shutil.copy(result["saved_model_file"], moved)
    assert evaluate_checkpoint(moved)[("full_sort", "seen")] == expected


def glob_files(root, name):
    import glob

    files = glob.glob(os.path.join(root, "**", name), recursive=True)
    assert files
    return files
