"""Issue 12, lever 2: the item-token output head (``retrieval_head: item_tokens``)."""

import pytest
import torch

from helpers import build, moved_by_head_addition
from recbole_ilm.checkpoint_io import read_checkpoint
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.quick_start import run_recbole_ilm
from recbole_ilm.retrieval.item_head import shared_prefix

KEYS = ("prompt_ids", "prompt_mask", "prompt_slot_item", "prompt_slot_user", "prompt_slot_rank")


def brute_force_item_scores(model, row):
    """One unpadded prompt: the LLM's full output (with its LM head's input read from output_hidden_states) at the
    answer position, dotted with each item's own tokens, encoded one item at a time."""
    embeds = model.embed_prompt(row)
    prefix = torch.as_tensor(model.prompts.item_tokens[1]).view(1, -1)
    shared = 0
    while shared < prefix.shape[1] and (torch.as_tensor(model.prompts.item_tokens[1:, shared]) == prefix[0, shared]).all():
        shared += 1
    prefix = prefix[:, :shared]
    embeds = torch.cat([embeds, model.llm.get_input_embeddings()(prefix)], dim=1)
    out = model.llm(inputs_embeds=embeds, output_hidden_states=True)  # one row: no mask, default positions
    hidden = out.hidden_states[-1][0, -1]
    scores = [float("-inf")]
    for item in range(1, model.cf_item.shape[0]):
        tokens = model.encode_entities(model.cf_item[item : item + 1])[0]  # [N, D]
        scores.append(float(hidden @ (model.item_head.proj.weight @ tokens.mean(dim=0))))
    return torch.tensor(scores)


@pytest.mark.parametrize("model_name", ["ILM", "MLPAdapter"])
def test_item_head_scores_equal_brute_force_dot_products(catalogue, model_name):
    make, name = catalogue
    config, ds, (train, valid, test), model = build(model_name, make(retrieval_head="item_tokens"), dataset=name)
    model.eval()
    if name == "wide":
        assert model.cf_item.shape[0] - 1 >= 150
    inter = next(iter(valid))[0]
    lengths = torch.tensor([10, 7, 3, 1, 5, 10]).clamp(max=inter["item_length"][:6])
    batch = model.prompts.build(inter["user_id"][:6], inter["item_id_list"][:6], lengths, ["sequential"] * 6,
                                [0] * 6, with_slots=True)
    widths = [int(batch["prompt_mask"][b].sum()) for b in range(6)]
    assert len(set(widths)) > 2  # padded by different amounts
    with torch.no_grad():
        fast = model.full_sort_predict(batch)
        assert fast.shape == (6, model.cf_item.shape[0]) and torch.isinf(fast[:, 0]).all()
        for b in range(6):
            slow = brute_force_item_scores(model, {k: batch[k][b : b + 1, -widths[b]:] for k in KEYS})
            torch.testing.assert_close(fast[b, 1:], slow[1:], atol=1e-4, rtol=1e-4)


def test_item_head_trains_the_encoder_and_head_not_the_llm(toy):
    first = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(phase=0))
    before = read_checkpoint(first["saved_model_file"])["state_dict"]
    result = run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(
        phase=2, init_checkpoint=first["saved_model_file"], retrieval_head="item_tokens", epochs=2))
    assert set(result["test_result"]) == {"hit@5", "hit@10", "ndcg@5", "ndcg@10", "mrr@5", "mrr@10"}
    after = read_checkpoint(result["saved_model_file"])["state_dict"]
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("llm."))
    assert "item_head.proj.weight" in after
    assert not torch.equal(before["item_encoder.adaptor.weight"], after["item_encoder.adaptor.weight"])


def test_shared_prefix_of_item_ids():
    table = [[0, 0, 0], [5, 1, 2], [5, 1, 3], [5, 2, 2]]
    assert shared_prefix(table).tolist() == [5]
    assert shared_prefix([[0, 0], [5, 1], [6, 1]]).tolist() == []


@pytest.mark.parametrize("model_name, overrides, words", [
    ("BackboneOnly", {}, ["retrieval_head: item_tokens", "BackboneOnly"]),
    ("ILM", {"eval_mode": "beam"}, ["eval_mode: beam", "full_sort"]),
])
def test_item_head_refuses_what_it_cannot_do(toy, model_name, overrides, words):
    with pytest.raises(ILMConfigError) as err:
        build(model_name, toy(retrieval_head="item_tokens", **overrides))
    assert all(w in str(err.value) for w in words)


def test_backbone_stopping_and_eval_step_are_phase_0s_and_key_the_cached_backbone(toy, monkeypatch):
    """A longer phase-2 patience (stopping_step 30) with backbone_stopping_step 3 keys the backbone cache exactly as
    stopping_step 3 does, and the same for eval_step / backbone_eval_step; each phase's fit runs with its own."""
    from recbole.trainer import Trainer

    from recbole_ilm.cache import options_key
    from recbole_ilm.lookup import get_trainer

    def key(**overrides):
        return options_key(build("ILM", toy(**overrides), with_model=False)[0], "backbone")

    assert key(stopping_step=30, backbone_stopping_step=3) == key(stopping_step=3) != key(stopping_step=30)
    assert key(eval_step=2, backbone_eval_step=1) == key(eval_step=1) != key(eval_step=2)
    config, _, (train, valid, _), model = build("ILM", toy(stopping_step=30, backbone_stopping_step=2, eval_step=3,
                                                           backbone_eval_step=1))
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    trainer.train_data, trainer.valid_data = train, valid
    seen = []
    monkeypatch.setattr(Trainer, "fit", lambda self, *a, **k: seen.append((self.stopping_step, self.eval_step))
                        or (0.0, {}))
    trainer._recbole_fit(0, 4, 0.001)
    trainer._recbole_fit(2, 4, 0.001)
    assert seen == [(2, 1), (30, 3)]


def test_backbone_seed_shares_one_backbone_across_seeds(toy, tmp_path, caplog):
    """A run with seed 11 and backbone_seed 7 trains exactly the backbone (and ids) of a seed-7 run, and finds the
    seed-7 run's cached backbone."""
    import logging

    def backbone(**overrides):  # read at once: runs in the same second share a checkpoint file name
        saved = read_checkpoint(run_recbole_ilm(model="BackboneOnly", dataset="toy",
                                                config_dict=toy(**overrides))["saved_model_file"])
        return {k: v for k, v in saved["state_dict"].items() if k.startswith("llm.")}, saved["prompts"]

    (a, ids_a), (b, ids_b) = backbone(seed=7), backbone(seed=11, backbone_seed=7,
                                                        ilm_cache_dir=str(tmp_path / "other_cache"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a) and ids_a == ids_b
    c, _ = backbone(seed=11, ilm_cache_dir=str(tmp_path / "third_cache"))
    assert not all(torch.equal(a[k], c[k]) for k in a)  # the seed alone changes it
    caplog.set_level(logging.INFO)
    run_recbole_ilm(model="ILM", dataset="toy", config_dict=toy(seed=11, backbone_seed=7, state="INFO"))
    assert "pretrained backbone loaded from" in caplog.text


def test_hybrid_scores_are_id_log_likelihood_plus_head_and_start_as_generative(catalogue):
    from test_retrieval import brute_force_scores

    make, name = catalogue
    config, ds, (train, valid, test), model = build("ILM", make(retrieval_head="hybrid"), dataset=name)
    model.eval()
    inter = next(iter(valid))[0]
    lengths = torch.tensor([10, 7, 3, 1]).clamp(max=inter["item_length"][:4])
    batch = model.prompts.build(inter["user_id"][:4], inter["item_id_list"][:4], lengths, ["sequential"] * 4,
                                [0] * 4, with_slots=True)
    with torch.no_grad():
        generative = brute_force_scores(model, batch)
        torch.testing.assert_close(model.full_sort_predict(batch)[:, 1:], generative[:, 1:], atol=2e-5, rtol=1e-5)
        torch.nn.init.normal_(model.item_head.proj.weight, std=0.5)  # a trained head
        fast = model.full_sort_predict(batch)
        widths = [int(batch["prompt_mask"][b].sum()) for b in range(4)]
        for b in range(4):
            row = {k: batch[k][b : b + 1, -widths[b]:] for k in KEYS}
            head = brute_force_item_scores(model, row)
            torch.testing.assert_close(fast[b, 1:], generative[b, 1:] + head[1:], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(fast[:, 1:], generative[:, 1:])


def test_hybrid_trains_through_both_scores(toy):
    config, ds, (train, valid, test), model = build("ILM", toy(retrieval_head="hybrid"))
    model.set_phase(2)
    loss = model.calculate_loss(next(iter(train)))
    loss.backward()
    assert model.item_head.proj.weight.grad.abs().sum() > 0
    assert model.item_encoder.adaptor.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.llm.parameters())


@pytest.mark.parametrize("head", ["item_tokens", "hybrid"])
def test_phase0_validation_scores_the_backbone_not_the_head(toy, head):
    """Phase 0 trains and early-stops the backbone on its own next-id likelihood: its validation must not score with
    the (still random) item-token head, or early stopping keeps an arbitrary epoch (seen on ML-1M)."""
    config, ds, (train, valid, test), model = build("ILM", toy(retrieval_head=head))
    _, _, _, generative = build("ILM", toy(retrieval_head="generative"))
    generative.load_state_dict(model.state_dict(), strict=False)
    inter = next(iter(valid))[0]
    with torch.no_grad():
        for m in (model, generative):
            m.eval()
            m.set_phase(0)
        torch.testing.assert_close(model.full_sort_predict(inter), generative.full_sort_predict(inter))
        torch.nn.init.normal_(model.item_head.proj.weight)  # hybrid's head starts at zero
        torch.testing.assert_close(model.full_sort_predict(inter), generative.full_sort_predict(inter))
        model.set_phase(2)
        assert not torch.allclose(model.full_sort_predict(inter), generative.full_sort_predict(inter))


@pytest.mark.parametrize("head", ["item_tokens", "generative"])
def test_evaluation_encodes_the_catalogue_once_and_notices_a_weight_change(toy, head):
    """Scoring several batches of users reuses one encoding of every item (it was once per batch: 88 times per
    validation on Beauty), gives the same scores as encoding per batch, and re-encodes after a weight changes."""
    config, ds, (train, valid, test), model = build("ILM", toy(retrieval_head=head))
    model.eval()
    valid.with_slots = True  # prompts with item tokens, as in phase 2
    batches = [b[0] for b, _ in zip(valid, range(2))]
    assert (batches[0]["prompt_slot_item"] > 0).any()
    calls = []
    encode = model.encode_entities
    model.encode_entities = lambda cf: calls.append(cf.shape[0]) or encode(cf)
    with torch.no_grad():
        memo = [model.full_sort_predict(b) for b in batches]
    n_items = model.cf_item.shape[0]
    assert calls.count(n_items) == 1
    with torch.enable_grad():  # no memo while gradients are on (training)
        fresh = [model.full_sort_predict(b).detach() for b in batches]
    for a, b in zip(memo, fresh):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        for p in model.item_encoder.parameters():  # e.g. an optimizer step
            p.add_(0.1 * torch.randn_like(p))
        changed = model.full_sort_predict(batches[0])
    with torch.enable_grad():
        torch.testing.assert_close(changed, model.full_sort_predict(batches[0]).detach(), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(changed, memo[0])


def test_sampled_negatives_encode_and_score_only_the_targets_and_the_draw(toy):
    """``item_head_negatives: K``: phase 2's cross-entropy runs over the batch's targets plus K uniformly drawn items
    (their columns of the full scores), and the catalogue is never encoded whole in a training step."""
    import torch.nn.functional as F

    config, ds, (train, valid, test), model = build("ILM", toy(retrieval_head="item_tokens", item_head_negatives=5))
    model.set_phase(2)
    model.eval()  # no dropout; gradients stay on, as in training
    inter = next(iter(train))
    target, n_items = inter["item_id"], model.cf_item.shape[0]
    torch.manual_seed(3)
    items = model.head_candidates(target)
    assert torch.equal(items, torch.unique(items)) and set(target.tolist()) <= set(items.tolist())
    assert len(items) <= len(set(target.tolist())) + 5 < n_items - 1
    rows = []
    encode = model.encode_entities
    model.encode_entities = lambda cf: rows.append(cf.shape[0]) or encode(cf)
    torch.manual_seed(3)
    loss = model.calculate_loss(inter)
    assert len(items) in rows and n_items not in rows
    with torch.no_grad():
        full = model.item_head_scores(model._prompt_batch(inter))
    expected = F.cross_entropy(full[:, items], torch.searchsorted(items, target))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert model.item_encoder.adaptor.weight.grad.abs().sum() > 0


def test_item_head_prompt_grad_false_keeps_the_loss_and_stops_the_gradient_at_the_answer_state(toy):
    """``item_head_prompt_grad: False``: the same loss; no gradient reaches the items that are only in the prompts;
    the head's columns get exactly the gradient that their own (table) side gives with the option on."""
    config, ds, (train, valid, test), model = build("ILM", toy(retrieval_head="item_tokens", item_head_negatives=2))
    model.set_phase(2)
    model.eval()  # no dropout; gradients stay on, as in training
    inter = next(iter(train))
    inter = inter[torch.arange(2)]  # two prompts: some drawn columns are in neither
    model.cf_item.requires_grad_(True)
    losses, grads = {}, {}
    for flag in (True, False):
        model.config["item_head_prompt_grad"] = flag
        model.zero_grad()
        model.cf_item.grad = None
        torch.manual_seed(3)
        loss = model.calculate_loss(inter)
        loss.backward()
        losses[flag], grads[flag] = loss.item(), model.cf_item.grad.clone()
    torch.manual_seed(3)
    columns = set(model.head_candidates(inter["item_id"]).tolist())
    in_prompts = set(inter["item_id_list"][inter["item_id_list"] > 0].tolist())
    prompt_only, column_only = sorted(in_prompts - columns), sorted(columns - in_prompts)
    assert prompt_only and column_only
    assert losses[False] == pytest.approx(losses[True], rel=1e-6)
    assert grads[True][prompt_only].abs().sum() > 0 and grads[False][prompt_only].abs().sum() == 0
    assert grads[False][column_only].abs().sum() > 0
    torch.testing.assert_close(grads[False][column_only], grads[True][column_only])
    assert model.item_encoder.adaptor.weight.grad is not None
    with pytest.raises(ILMConfigError) as err:
        build("ILM", toy(retrieval_head="hybrid", item_head_prompt_grad=False))
    assert "item_head_prompt_grad" in str(err.value) and "retrieval_head: item_tokens" in str(err.value)


@pytest.mark.parametrize("head", ["hybrid", "generative"])
def test_sampled_negatives_need_the_item_token_head(toy, head):
    """The option would otherwise do nothing (generative) or sample only half of the score (hybrid)."""
    with pytest.raises(ILMConfigError) as err:
        build("ILM", toy(retrieval_head=head, item_head_negatives=8))
    assert all(w in str(err.value) for w in ("item_head_negatives", f"retrieval_head: {head}", "item_tokens"))


def test_item_id_embedding_starts_at_zero_and_moves_only_its_own_items_column(toy):
    """``item_head_id_embedding``: at the start the scores are the plain head's; a vector for item k changes column k
    alone, by the answer state's dot product with it — in the full scores and in the sampled columns alike."""
    config, ds, (train, valid, test), model = build("ILM", toy(retrieval_head="item_tokens",
                                                               item_head_id_embedding=True))
    model.set_phase(2)
    model.eval()
    batch = model._prompt_batch(next(iter(valid))[0])
    with torch.no_grad():
        start = model.item_head_scores(batch)
        ids, model.item_head.ids = model.item_head.ids, None
        plain = model.item_head_scores(batch)
        model.item_head.ids = ids
        torch.testing.assert_close(start, plain)
        k = 3
        ids.weight[k] = torch.randn(ids.weight.shape[1])
        moved = model.item_head_scores(batch)
        changed = (moved - start).abs().sum(dim=0) > 1e-6
        assert changed.nonzero().flatten().tolist() == [k]
        items = torch.tensor([1, k, 5])
        torch.testing.assert_close(model.item_head_scores(batch, items)[:, 1:], moved[:, items], atol=1e-4, rtol=1e-4)
    with pytest.raises(ILMConfigError) as err:
        build("ILM", toy(retrieval_head="generative", item_head_id_embedding=True))
    assert "item_head_id_embedding" in str(err.value) and "retrieval_head: item_tokens" in str(err.value)


def test_item_head_text_starts_at_zero_and_adds_the_answer_state_times_v_x_for_every_item(toy):
    """``item_head_text``: at the start the scores are the plain head's; with V set, every item's score moves by
    ``h_u · V x_i`` (x_i: that item's own MiniLM embedding of its text), in the full and the sampled scores alike."""
    from recbole_ilm.data.item_text import item_texts
    from recbole_ilm.resources import embed_sentences

    config, ds, (train, valid, test), model = build("ILM", toy(retrieval_head="item_tokens", item_head_text=True))
    model.set_phase(2)
    model.eval()
    head = model.item_head
    torch.testing.assert_close(head.text, torch.as_tensor(embed_sentences(item_texts(ds, config["item_text_fields"]))))
    batch = model._prompt_batch(next(iter(valid))[0])
    with torch.no_grad():
        moved, delta, hidden = moved_by_head_addition(model, batch, "text_proj")
        torch.testing.assert_close(delta, hidden @ head.text_proj(head.text[1:]).T, atol=1e-4, rtol=1e-4)
        items = torch.tensor([1, 3, 5])
        torch.testing.assert_close(model.item_head_scores(batch, items)[:, 1:], moved[:, items], atol=1e-4, rtol=1e-4)
    for kwargs, words in ((dict(retrieval_head="generative"), "retrieval_head: item_tokens"),
                          (dict(retrieval_head="item_tokens", item_text_fields=[]), "item_text_fields is empty")):
        with pytest.raises(ILMConfigError) as err:
            build("ILM", toy(item_head_text=True, **kwargs))
        assert "item_head_text" in str(err.value) and words in str(err.value)
