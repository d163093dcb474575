"""Evaluate a saved checkpoint under another protocol, without retraining.

    python -m recbole_ilm.evaluate --checkpoint saved/ILM-ml-100k-phase2-....pth \
        [--eval_mode=full_sort|beam|beam_constrained] [--eval_template=seen|unseen] [--split=test|valid]

Prints RecBole's result dict; with several ``--eval_mode`` / ``--eval_template`` values (comma-separated) prints one
line per combination.
"""

import argparse
import itertools
import sys

from recbole_ilm import cli


def evaluate_checkpoint(path, eval_modes=("full_sort",), templates=("seen",), split="test"):
    """``{(mode, template): OrderedDict of metrics}`` for a checkpoint of a plugin model."""
    from recbole_ilm.quick_start import load_data_and_model
    from recbole_ilm.lookup import get_trainer

    config, model, _, _, valid_data, test_data = load_data_and_model(path)
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
    args = cli.parse(parser, argv)

    def show():
        results = evaluate_checkpoint(args.checkpoint, args.eval_mode.split(","), args.eval_template.split(","),
                                      args.split)
        for (mode, template), result in results.items():
            shown = "  ".join(f"{k}: {float(v):.4f}" for k, v in result.items())
            print(f"{args.split} {mode:<16} {template:<6}  {shown}")

    return cli.run(show)


if __name__ == "__main__":
    sys.exit(main())
