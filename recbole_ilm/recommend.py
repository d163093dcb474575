"""Top-k recommendations with titles for one user of a saved model.

    python -m recbole_ilm.recommend --checkpoint saved/ILM-ml-100k-phase2-....pth --user 196 [--topk 10]

The prompt holds the user's whole known history (training, validation and test items, the last
``MAX_ITEM_LIST_LENGTH`` of them), i.e. "what comes after everything we know"; items already in that history are
still ranked (RecBole's sequential protocol is repeatable) but marked.
"""

import argparse
import sys

import torch

from recbole_ilm.data.history import history_interaction
from recbole_ilm.data.item_text import item_texts
from recbole_ilm import cli
from recbole_ilm.errors import ILMConfigError


def user_history(test_dataset, config, uid):
    """Internal item ids of the user's full history (test row's history + its target), oldest first."""
    inter = test_dataset.inter_feat
    rows = (inter[test_dataset.uid_field] == uid).nonzero(as_tuple=True)[0]
    if len(rows) == 0:
        return []
    row = int(rows[-1])
    length = int(inter[config["ITEM_LIST_LENGTH_FIELD"]][row])
    items = inter[test_dataset.iid_field + config["LIST_SUFFIX"]][row, :length].tolist()
    return items + [int(inter[test_dataset.iid_field][row])]


@torch.no_grad()
def recommend(config, model, test_data, user_token, topk=10):
    """``(history, [(item token, text, log-likelihood), ...])`` for a raw user id (as in the .inter file)."""
    dataset = test_data._dataset
    try:
        uid = int(dataset.token2id(dataset.uid_field, str(user_token)))
    except ValueError:
        raise ILMConfigError(f"--user: unknown user id '{user_token}' (not in the filtered dataset)") from None
    history = user_history(dataset, config, uid)[-config["MAX_ITEM_LIST_LENGTH"]:]
    if not history:
        raise ILMConfigError(f"--user: user '{user_token}' has no history in the test split")
    interaction = history_interaction(dataset, config, history, uid).to(model.device)
    model.eval()
    scores = model.full_sort_predict(interaction)[0]
    top = torch.topk(scores, topk)
    texts = item_texts(dataset, config["item_text_fields"])
    tokens = dataset.field2id_token[dataset.iid_field]
    ranked = [(str(tokens[i]), texts[i], float(s)) for s, i in zip(top.values.tolist(), top.indices.tolist())]
    return [(str(tokens[i]), texts[i]) for i in history], ranked


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--user", required=True, help="user id as written in the dataset's .inter file")
    parser.add_argument("--topk", type=int, default=10)
    args = cli.parse(parser, argv)
    return cli.run(show_recommendations, args.checkpoint, args.user, args.topk)


def show_recommendations(checkpoint, user, topk):
    from recbole_ilm.quick_start import load_data_and_model

    config, model, _, _, _, test_data = load_data_and_model(checkpoint)
    history, ranked = recommend(config, model, test_data, user, topk)
    seen = {token for token, _ in history}
    print(f"user {user}, last {len(history)} items:")
    for token, text in history:
        print(f"    {token:>12}  {text}")
    print(f"top {topk} ({config['model']}):")
    for rank, (token, text, score) in enumerate(ranked, 1):
        mark = " (already seen)" if token in seen else ""
        print(f"{rank:>3}. {token:>12}  {text}  [log p = {score:.2f}]{mark}")


if __name__ == "__main__":
    sys.exit(main())
