"""Issue 3: Q-Former losses, masks, hard negatives, batch kinds, and phase-1 training on toy data."""

import numpy as np
import pytest
import torch

from helpers import build
from recbole_ilm.alignment import losses as L
from recbole_ilm.alignment.objective import AlignmentData, active_kinds, batch_losses
from recbole_ilm.alignment.qformer import ItemQFormer, multimodal_causal_mask
from recbole_ilm.errors import ILMConfigError


def tiny_qformer(vocab=50, cf_dim=8, **kw):
    torch.manual_seed(0)
    return ItemQFormer(cf_dim=cf_dim, text_vocab_size=vocab, num_queries=3, hidden_size=32, num_layers=2,
                       num_heads=2, intermediate_size=64, cf_kv_tokens=2, max_text_length=12, embed_dim=16,
                       dropout=0.0, **kw)


def fixed_batch(b=6, length=7, vocab=50, cf_dim=8):
    g = torch.Generator().manual_seed(1)
    cf = torch.randn(b, cf_dim, generator=g)
    ids = torch.randint(5, vocab, (b, length), generator=g)
    ids[:, 0] = 2
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[0, 5:] = False
    return cf, ids, mask


def _decreases(loss_fn, params, steps=25, lr=3e-3):
    opt = torch.optim.Adam(params, lr=lr)
    first = None
    for _ in range(steps):
        loss = loss_fn()
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    return first, loss_fn().item()


@pytest.mark.parametrize("name", ["itc", "itg", "itm", "iic", "uic"])
def test_each_loss_decreases_on_a_fixed_batch(name):
    q = tiny_qformer()
    cf, ids, mask = fixed_batch()
    cf2 = torch.randn(6, 8, generator=torch.Generator().manual_seed(2))
    temp = q.temperature

    def loss():
        if name == "itc":
            return L.itc_loss(q.item_features(cf), q.text_features(ids, mask), temp())
        if name == "itg":
            return L.itg_loss(q.generation_logits(cf, ids, mask), ids, mask)
        if name == "itm":
            neg = torch.roll(torch.arange(6), 1)
            return L.itm_loss(q.matching_logits(cf, ids, mask), q.matching_logits(cf, ids[neg], mask[neg]))
        feats = q.item_features
        return (L.iic_loss if name == "iic" else L.uic_loss)(feats(cf), feats(cf2), temp())

    first, last = _decreases(loss, q.parameters(), steps=60 if name == "itm" else 25)
    assert last < first * 0.9, (name, first, last)


def test_itc_picks_the_argmax_query():
    e = torch.eye(4)
    queries = torch.stack([e[[0, 1, 2]], e[[3, 2, 1]]])  # [2 items, 3 queries, 4 dims], unit vectors
    texts = torch.nn.functional.normalize(torch.tensor([[0.1, 0.2, 1.0, 0.0], [0.0, 0.9, 0.0, 0.2]]), dim=1)
    assert L.select_query(queries, texts).tolist() == [2, 2]  # item 0: query 2 (=e2); item 1: query 2 (=e1)
    sim = L.item_text_similarity(queries, texts)
    assert torch.allclose(sim[0, 0], texts[0, 2]) and torch.allclose(sim[1, 1], texts[1, 1])
    a = torch.stack([e[[0, 1, 2]]])
    b = torch.stack([e[[3, 3, 1]]])
    k, l = L.select_query_pair(a, b)
    assert (int(k), int(l)) == (1, 2)
    assert torch.allclose(L.item_item_similarity(a, b), torch.ones(1, 1))


def test_itg_mask_text_sees_all_queries_but_no_future_text():
    mask = torch.tensor([[1, 1, 1, 0]], dtype=torch.bool)
    allowed = multimodal_causal_mask(2, mask)[0]
    assert allowed.shape == (6, 6)
    assert allowed[:2, :2].all() and not allowed[:2, 2:].any()  # queries see only queries
    assert allowed[2:, :2].all()  # every text position sees every query
    text = allowed[2:, 2:]
    assert not torch.triu(text, diagonal=1).any()  # no future text
    assert text[:3, :3].equal(torch.tril(torch.ones(3, 3, dtype=torch.bool)))
    assert not text[:, 3].any()  # padding is never attended


def test_itg_output_ignores_future_text():
    q = tiny_qformer().eval()
    cf, ids, mask = fixed_batch()
    changed = ids.clone()
    changed[:, 4:] = 7
    a, b = q.generation_logits(cf, ids, mask), q.generation_logits(cf, changed, mask)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-5)
    assert not torch.allclose(a[:, 4:], b[:, 4:])
    other_cf = cf + 1.0  # ... but does depend on the item (through the queries)
    assert not torch.allclose(q.generation_logits(other_cf, ids, mask)[:, 0], a[:, 0])


def test_itm_negatives_are_never_the_positive():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        sim = torch.randn(8, 8, generator=g) * 5
        same = torch.eye(8, dtype=torch.bool)
        same[2, 5] = same[5, 2] = True  # two items with identical text
        neg = L.hard_negatives(sim, same, 0.07, g)
        for i, j in enumerate(neg.tolist()):
            assert j != i and not same[i, j]
    all_same = torch.ones(3, 3, dtype=torch.bool)
    assert L.hard_negatives(torch.zeros(3, 3), all_same, 0.07).tolist() == [-1, -1, -1]


def test_hard_negatives_follow_the_temperature_scaled_similarity():
    """BLIP-2 draws ITM negatives with softmax(sim / temp): on cosines in [-1, 1] the most similar wrong text must
    dominate the draw (without the temperature it would be picked about as often as any other)."""
    g = torch.Generator().manual_seed(0)
    sim = torch.full((4, 8), -0.5)
    sim[:, 3] = 0.9  # the hard negative of every row (rows 0..3 are positives on the diagonal)
    sim[3, 3] = 1.0
    sim[3, 5] = 0.9
    same = torch.zeros(4, 8, dtype=torch.bool)
    same[torch.arange(4), torch.arange(4)] = True
    picks = torch.stack([L.hard_negatives(sim, same, 0.07, g) for _ in range(400)])
    assert (picks[:, :3] == 3).float().mean() > 0.95
    assert (picks[:, 3] == 5).float().mean() > 0.95
    expected = torch.softmax(torch.tensor([0.9] + [-0.5] * 6) / 0.07, 0)[0]  # the hard column's probability
    assert abs((picks[:, 0] == 3).float().mean() - expected) < 0.03


def _reference_infonce(sim, temp, exclude):
    """Row-by-row cross-entropy with the excluded columns removed (the definition, written out)."""
    total = 0.0
    for i in range(sim.shape[0]):
        keep = [j for j in range(sim.shape[1]) if not exclude[i][j]]
        logits = torch.tensor([float(sim[i, j]) / temp for j in keep])
        total += float(torch.logsumexp(logits, 0) - sim[i, i] / temp)
    return total / sim.shape[0]


def test_contrastive_losses_mask_in_batch_false_negatives():
    """A repeated item (or user, or identical text) in a batch is never a negative of its own positive, and an
    item is never its own negative (item-item); checked against the definition on a hand-made batch."""
    g = torch.Generator().manual_seed(3)
    f = lambda *shape: torch.nn.functional.normalize(torch.randn(*shape, generator=g), dim=-1)  # noqa: E731
    a, b, t, temp = f(4, 2, 8), f(4, 2, 8), f(4, 8), 0.1
    ids_a, ids_b = torch.tensor([1, 1, 2, 5]), torch.tensor([7, 8, 7, 1])  # item 1 on both sides, 7 twice
    sim_ab, sim_ba = L.item_item_similarity(a, b), L.item_item_similarity(b, a)
    ex_ab = [[j != i and (ids_b[j] == ids_b[i] or ids_b[j] == ids_a[i]) for j in range(4)] for i in range(4)]
    ex_ba = [[j != i and (ids_a[j] == ids_a[i] or ids_a[j] == ids_b[i]) for j in range(4)] for i in range(4)]
    assert ex_ab[0][2] and ex_ab[2][0] and ex_ba[0][1] and ex_ba[3][0]  # the case is not trivial
    expected = (_reference_infonce(sim_ab, temp, ex_ab) + _reference_infonce(sim_ba, temp, ex_ba)) / 2
    assert abs(float(L.iic_loss(a, b, temp, ids_a, ids_b)) - expected) < 1e-5
    assert abs(float(L.iic_loss(a, b, temp)) - expected) > 1e-3  # without ids the duplicates are negatives

    users = torch.tensor([4, 4, 6, 9])  # user 4 with two of its items; ids live in separate spaces
    ex_ub = [[j != i and ids_b[j] == ids_b[i] for j in range(4)] for i in range(4)]
    ex_bu = [[j != i and users[j] == users[i] for j in range(4)] for i in range(4)]
    expected = (_reference_infonce(sim_ab, temp, ex_ub) + _reference_infonce(sim_ba, temp, ex_bu)) / 2
    assert abs(float(L.uic_loss(a, b, temp, users, ids_b)) - expected) < 1e-5

    groups = torch.tensor([0, 3, 3, 2])  # items 1 and 2 have identical text
    sim_it = L.item_text_similarity(a, t)
    ex = [[j != i and groups[j] == groups[i] for j in range(4)] for i in range(4)]
    expected = (_reference_infonce(sim_it, temp, ex) + _reference_infonce(sim_it.t(), temp, ex)) / 2
    assert abs(float(L.itc_loss(a, t, temp, groups)) - expected) < 1e-5


def test_chance_levels():
    assert abs(L.itm_chance(1, 2) - 0.6365) < 1e-4  # one positive, two negatives: what "learnt nothing" costs
    no = torch.zeros(3, 3, dtype=torch.bool)
    assert abs(L.contrastive_chance(no, no) - np.log(3)) < 1e-6
    one = no.clone()
    one[0, 1] = True
    assert abs(L.contrastive_chance(one, no) - (np.log(2) + 5 * np.log(3)) / 6) < 1e-6


def test_pair_batches_never_contain_item_text_examples(toy):
    config, ds, (train, _, _), model = build("ILM", toy())
    data = AlignmentData(model.text_lengths.numpy(), model.text_tokens.numpy(), train._dataset, 0.1, 0)
    rng = np.random.default_rng(0)
    ii, ui = data.sample("item_item", 16, rng), data.sample("user_item", 16, rng)
    assert ii.shape == (16, 2) and ui.shape == (16, 2)
    assert {tuple(p) for p in ii.tolist()} <= {tuple(p) for p in data.pairs["item_item"].tolist()}
    assert {tuple(p) for p in ui.tolist()} <= {tuple(p) for p in data.pairs["user_item"].tolist()}
    calls = []
    original = model.item_encoder.qformer.text_features
    model.item_encoder.qformer.text_features = lambda *a: calls.append(a) or original(*a)
    for kind, batch in (("item_item", ii), ("user_item", ui)):
        out, chance = batch_losses(model.alignment_target(), kind, batch, ["itc", "itg", "itm", "iic", "uic"])
        assert set(out) == ({"iic"} if kind == "item_item" else {"uic"})
        assert set(chance) == set(out)
    assert calls == []  # no text was encoded for pair batches
    assert set(data.eval_items) & set(data.text_items) == set()


def test_schedule_skips_kinds_without_active_losses(toy):
    config, ds, (train, _, _), model = build("ILM", toy())
    data = AlignmentData(model.text_lengths.numpy(), model.text_tokens.numpy(), train._dataset, 0.1, 0)
    schedule = ["item_text", "item_item", "item_text", "user_item"]
    assert active_kinds(schedule, ["itc", "itg", "itm"], data) == ["item_text", "item_text"]
    assert active_kinds(schedule, ["itc", "iic"], data) == ["item_text", "item_item", "item_text"]
    with pytest.raises(ILMConfigError, match="unknown"):
        active_kinds(schedule, ["itc", "xyz"], data)


def test_no_text_fields_rejects_item_text_losses_but_runs_pair_losses(tmp_path, toy):
    from conftest import write_toy_dataset
    from recbole_ilm.quick_start import run_recbole_ilm

    root = str(tmp_path / "data")
    write_toy_dataset(root, name="notext", with_text=False)
    base = toy(data_path=root, item_text_fields=[], load_col={"inter": ["user_id", "item_id", "timestamp"]})
    with pytest.raises(ILMConfigError, match="no item text"):
        run_recbole_ilm(model="ILM", dataset="notext", config_dict=base)
    result = run_recbole_ilm(model="ILM", dataset="notext", config_dict={**base, "phase1_losses": ["iic", "uic"]})
    assert "ndcg@10" in result["test_result"]


def test_phase1_training_logs_losses_and_held_out_retrieval(toy):
    from recbole_ilm.trainer.alignment_trainer import AlignmentTrainer

    config, ds, (train, _, _), model = build("ILM", toy(phase1_steps_per_epoch=6, phase1_epochs=2))
    history = AlignmentTrainer(config, model.alignment_target(), train._dataset).fit()
    assert len(history) == 2
    assert {"train_itc", "train_itg", "train_itm", "train_iic", "train_uic"} <= set(history[-1])
    assert {"recall@1", "recall@10", "itg_eval", "itg_train", "itm_acc"} <= set(history[-1])
    assert {"chance_itc", "chance_itm", "chance_iic", "chance_uic"} <= set(history[-1])
    assert history[-1]["chance_itm"] > 0.6 and history[-1]["chance_itc"] <= np.log(8) + 1e-6
    assert all(np.isfinite(v) for v in history[-1].values())


def test_phase1_comparison_reports_every_variant(toy):
    from recbole_ilm.experiments.alignment_compare import run_variant, table

    results = {name: run_variant("toy", name, toy()) for name in ("ILM-IT", "ILM-IT-UI")}
    assert results["ILM-IT"]["losses"] == ["itc", "itg", "itm"]  # read from properties/variants/ILM-IT.yaml
    assert results["ILM-IT-UI"]["losses"] == ["itc", "itg", "itm", "uic"]
    for result in results.values():
        assert len(result["history"]) == 1 and 0.0 <= result["history"][-1]["recall@10"] <= 1.0
    assert "| ILM-IT-UI | itc+itg+itm+uic |" in table(results)
    with pytest.raises(ILMConfigError, match="phase 1 exists only for ILM"):
        run_variant("toy", "MLPAdapter", toy())
