"""Evaluate a saved checkpoint under another protocol, without retraining.

    python -m recbole_ilm.evaluate --checkpoint saved/ILM-ml-100k-phase2-....pth \
        [--eval_mode=full_sort|beam|beam_constrained] [--eval_template=seen|unseen] [--split=test|valid] \
        [--backbone_fusion=W] [--popularity_prior=B]

Prints RecBole's result dict; with several ``--eval_mode`` / ``--eval_template`` values (comma-separated) prints one
line per combination. ``--backbone_fusion`` / ``--popularity_prior`` replace the checkpoint's values of those
evaluation-only options of the item-token head (e.g. the pair ``python -m recbole_ilm.experiments.fusion`` chose on
valid), so no retraining is needed to score with them.
"""

import argparse
import itertools
import sys

from recbole_ilm import cli
from recbole_ilm.errors import ILMConfigError


EVALUATION_ONLY = ("backbone_fusion", "popularity_prior")


def evaluate_checkpoint(path, eval_modes=("full_sort",), templates=("seen",), split="test", options=None):
    """``{(mode, template): OrderedDict of metrics}`` for a checkpoint of a plugin model; ``options`` replaces the
    checkpoint's values of :data:`EVALUATION_ONLY` options."""
    from recbole_ilm.options import validate_options
    from recbole_ilm.quick_start import load_data_and_model
    from recbole_ilm.lookup import get_trainer
    from recbole_ilm.retrieval.item_head import check_head_options

    config, model, _, _, valid_data, test_data = load_data_and_model(path)
    for key, value in (options or {}).items():
        if key not in EVALUATION_ONLY:
            raise ILMConfigError(f"{key} changes how the model was trained; only {', '.join(EVALUATION_ONLY)} can "
                                 f"be changed when evaluating a checkpoint")
        config[key] = value
    if options:
        validate_options(config)
        check_head_options(config)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    data = test_data if split == "test" else valid_data
    results = {}
    for mode, template in itertools.product(eval_modes, templates):
        config["eval_template"] = template  # the eval dataloaders read it at collate time
        results[(mode, template)] = trainer.evaluate(data, load_best_model=False, eval_mode=mode)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--eval_mode", default="full_sort", help="full_sort, beam, beam_constrained (comma list)")
    parser.add_argument("--eval_template", default="seen", help="seen, unseen (comma list)")
    parser.add_argument("--split", default="test", choices=["test", "valid"])
    for key in EVALUATION_ONLY:
        parser.add_argument(f"--{key}", type=float, help=f"replace the checkpoint's {key} (item_tokens head)")
    args = cli.parse(parser, argv)

    def show():
        options = {key: getattr(args, key) for key in EVALUATION_ONLY if getattr(args, key) is not None}
        results = evaluate_checkpoint(args.checkpoint, args.eval_mode.split(","), args.eval_template.split(","),
                                      args.split, options)
        for (mode, template), result in results.items():
            shown = "  ".join(f"{k}: {float(v):.4f}" for k, v in result.items())
            print(f"{args.split} {mode:<16} {template:<6}  {shown}")

    return cli.run(show)


if __name__ == "__main__":
    sys.exit(main())
