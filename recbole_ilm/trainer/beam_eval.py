"""The paper's protocol: beam search (10 beams), invalid outputs removed, HR / NDCG / MRR @k of the target's rank.

RecBole's evaluator ranks a full score vector, which a beam list is not (items outside the beams have no score,
and filling them would create spurious hits), so these metrics are computed here with RecBole's formulas for a
single positive per user and returned in RecBole's ``OrderedDict`` format.
"""

import math
from collections import OrderedDict
from logging import getLogger

import torch
from recbole.utils import set_color
from tqdm import tqdm


def rank_metrics(ranked_items, targets, topk, metrics):
    """``ranked_items [B, K]`` (valid ids first, -1 removed), ``targets [B]`` -> OrderedDict of means."""
    sums = OrderedDict((f"{m.lower()}@{k}", 0.0) for m in metrics for k in topk)
    for row, target in zip(ranked_items.tolist(), targets.tolist()):
        valid = [i for i in row if i > 0]
        rank = valid.index(target) + 1 if target in valid else None
        for k in topk:
            hit = rank is not None and rank <= k
            for m in metrics:
                key = f"{m.lower()}@{k}"
                if m.lower() == "hit":
                    sums[key] += float(hit)
                elif m.lower() == "ndcg":
                    sums[key] += 1.0 / math.log2(rank + 1) if hit else 0.0
                elif m.lower() == "mrr":
                    sums[key] += 1.0 / rank if hit else 0.0
                else:
                    raise ValueError(f"beam evaluation supports Hit, NDCG and MRR, not {m}")
    return sums


@torch.no_grad()
def beam_metrics(model, eval_data, config, constrained, show_progress=False):
    """RecBole-style metrics of the beams, plus ``invalid_ids``: the share of generated ids (beams x users) that
    are not in the catalogue (always 0 when constrained); it is also logged."""
    logger = getLogger()
    beam_size = config["beam_size"]
    if max(config["topk"]) > beam_size:
        logger.warning(f"topk {config['topk']} reaches beyond beam_size {beam_size}: @k metrics for k > {beam_size} "
                       f"only see {beam_size} candidates; raise beam_size to at least {max(config['topk'])}")
    sums, count, invalid = None, 0, 0
    iterator = tqdm(eval_data, ncols=100, desc=set_color("Beam eval  ", "pink")) if show_progress else eval_data
    for interaction, _, _, positive_i in iterator:
        interaction = interaction.to(model.device)
        items = model.beam_predict(interaction, beam_size, constrained=constrained)
        invalid += int((items < 1).sum())
        batch = rank_metrics(items.cpu(), positive_i.cpu(), config["topk"], config["metrics"])
        sums = batch if sums is None else OrderedDict((k, sums[k] + v) for k, v in batch.items())
        count += len(positive_i)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():  # every rank scored its shard of the users
        totals = torch.tensor([count, invalid] + list(sums.values()), dtype=torch.float64)
        dist.all_reduce(totals)
        count, invalid, sums = int(totals[0]), int(totals[1]), OrderedDict(zip(sums, totals[2:].tolist()))
    places = config["metric_decimal_place"]
    result = OrderedDict((k, round(v / max(count, 1), places)) for k, v in sums.items())
    result["invalid_ids"] = round(invalid / max(count * beam_size, 1), places)
    mode = "constrained" if constrained else "free"
    logger.info(set_color(f"beam search ({mode})", "blue") + f": {invalid} of {count * beam_size} generated ids "
                f"({100 * result['invalid_ids']:.2f}%) are not catalogue ids")
    return result
