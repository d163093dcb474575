"""Choose ``backbone_fusion`` on the validation split for a trained item-token-head checkpoint.

    python -m recbole_ilm.experiments.fusion --checkpoint saved/ILM-<dataset>-phase2-<time>.pth \
        [--weights 0,0.1,0.2,0.5,1,2] [--priors=-0.5,0,0.5] [--out fusion.json]

Every valid and test user is scored once by the item-token head and once by the frozen backbone's own
log-likelihood of every id (the text-only prompt: what BackboneOnly scores with the same LLM); each weight ``w``
then ranks by ``head + w * backbone`` with RecBole's masking (padding and the user's history). Prints NDCG@10 per
weight on both splits and the weight with the best **valid** NDCG@10 (the test split never chooses); ``--out`` keeps
that weight's test numbers (popularity thirds, per-row ranks for paired comparisons, as a benchmark cell).

``--priors`` (default 0 = off) also tries ``+ b * log(1 + training count of the item)`` for each ``b``: below zero it
lifts rarely bought items, above zero popular ones; the pair ``(w, b)`` is chosen on valid as ``w`` alone is.

The model scores the same way with the options ``backbone_fusion: w`` and ``popularity_prior: b`` (both evaluation
only, :mod:`recbole_ilm.retrieval.score_fusion`): ``python -m recbole_ilm.evaluate --checkpoint <it>
--backbone_fusion=w --popularity_prior=b`` scores the checkpoint with the chosen pair, no retraining.
"""

import argparse
import json
import sys
import time

import torch

from recbole_ilm import cli
from recbole_ilm.data.dataloader import in_row_order
from recbole_ilm.errors import ILMConfigError
from recbole_ilm.experiments.cell_stats import masked_target_ranks, ndcg_at, ndcg_by_popularity
from recbole_ilm.retrieval.score_fusion import fused, log_popularity


@torch.no_grad()
def fusion_ranks(model, data, weights, priors=(0.0,), prior=None):
    """``({(weight, prior weight): ranks}, targets, seconds)``: 0-based rank of each target (ties counted against
    it) under each pair, one row per interaction of ``data`` (a full-sort eval loader), both scorers run once per
    batch. ``prior`` (``[n_items]``, see ``log_popularity``) is needed when a prior weight is not 0."""
    if any(priors) and prior is None:
        raise ValueError("fusion_ranks: prior weights other than 0 need prior= (log_popularity of the training set)")
    model.eval()
    pairs = [(w, b) for w in weights for b in priors]
    ranks, targets = {pair: [] for pair in pairs}, []
    if prior is not None:
        prior = prior.to(model.device)
    start = time.time()
    for interaction, history_index, positive_u, positive_i in data:
        interaction = interaction.to(model.device)
        head = model.item_head_scores(model._prompt_batch(interaction))
        backbone = model.backbone_scores(interaction)
        for w, b in pairs:
            scores = fused(head, backbone, w, prior, b)
            ranks[(w, b)].append(masked_target_ranks(scores, history_index, positive_u, positive_i).cpu())
        targets.append(positive_i.cpu())
    return ({pair: in_row_order(data, torch.cat(r).numpy()) for pair, r in ranks.items()},
            in_row_order(data, torch.cat(targets).numpy()), time.time() - start)


def pair_name(w, b):
    return f"{w:g}" if not b else f"{w:g} prior {b:g}"


def choose_weight(path, weights, k=10, priors=(0.0,)):
    """Both splits' NDCG@k per weight (and prior weight), the pair with the best valid NDCG@k and its test
    numbers; a tie keeps the smaller weight, then the prior weight nearest 0."""
    from recbole_ilm.quick_start import load_data_and_model

    config, model, _, train_data, valid_data, test_data = load_data_and_model(path)
    if getattr(model, "item_head", None) is None or model.hybrid:
        raise ILMConfigError(f"'{path}' has retrieval_head: {config['retrieval_head']}; backbone_fusion adds the "
                             f"backbone's id log-likelihood to an item-token head (retrieval_head: item_tokens)")
    prior = log_popularity(train_data._dataset) if any(priors) else None
    valid, _, valid_seconds = fusion_ranks(model, valid_data, weights, priors, prior)
    test, targets, test_seconds = fusion_ranks(model, test_data, weights, priors, prior)
    table = {pair: {"valid": float(ndcg_at(valid[pair], k).mean()), "test": float(ndcg_at(test[pair], k).mean())}
             for pair in valid}
    best = max(table, key=lambda pair: (table[pair]["valid"], -pair[0], -abs(pair[1])))
    thirds = ndcg_by_popularity(train_data._dataset, targets, ndcg_at(test[best], k))
    result = {"checkpoint": path, "weights": list(weights), f"ndcg@{k}": {pair_name(*p): table[p] for p in table},
              "chosen_on_valid": best[0], f"test_ndcg@{k}": table[best]["test"], f"ndcg@{k}_by_popularity": thirds,
              "seconds": {"valid": round(valid_seconds, 1), "test": round(test_seconds, 1)},
              "test_ranks": test[best].astype(int).tolist(), "test_targets": targets.astype(int).tolist()}
    if any(priors):
        result.update(priors=list(priors), prior_chosen_on_valid=best[1])
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--weights", default="0,0.05,0.1,0.2,0.3,0.5,0.75,1,1.5,2,3",
                        help="backbone_fusion values to compare (comma list, each >= 0)")
    parser.add_argument("--priors", default="0",
                        help="weights b of log(1 + training count) to add to each fused score (comma list; 0 = none; "
                             "write --priors=-0.5,0 when the first one is negative)")
    parser.add_argument("--out", help="write the result (with the chosen weight's per-row test ranks) as JSON")
    args = cli.parse(parser, argv)

    def show():
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise ILMConfigError(f"--weights {args.weights!r}: give numbers >= 0, e.g. 0,0.5,1") from None
        if not weights or min(weights) < 0:
            raise ILMConfigError(f"--weights {args.weights!r}: give numbers >= 0, e.g. 0,0.5,1")
        try:
            priors = [float(b) for b in args.priors.split(",")]
        except ValueError:
            raise ILMConfigError(f"--priors {args.priors!r}: give numbers, e.g. -0.5,0,0.5 (0 = no prior)") from None
        result = choose_weight(args.checkpoint, weights, priors=priors)
        chosen = pair_name(result["chosen_on_valid"], result.get("prior_chosen_on_valid", 0.0))
        for name, row in result["ndcg@10"].items():
            mark = "  <- best on valid" if name == chosen else ""
            print(f"backbone_fusion {name:<14} valid NDCG@10 {row['valid']:.4f}  "
                  f"test NDCG@10 {row['test']:.4f}{mark}")
        print("test NDCG@10 by target popularity (bottom / middle / top third): "
              + " / ".join(f"{b['ndcg']:.4f}" for b in result["ndcg@10_by_popularity"].values()))
        print(f"scoring time: valid {result['seconds']['valid']} s, test {result['seconds']['test']} s")
        if args.out:
            with open(args.out, "w") as f:
                json.dump(result, f)

    return cli.run(show)


if __name__ == "__main__":
    sys.exit(main())
