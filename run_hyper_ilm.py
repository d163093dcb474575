"""Hyper-parameter search over ILM's knobs with RecBole's HyperTuning (needs: pip install hyperopt).

    python run_hyper_ilm.py --config_files hyper/ilm_ml-100k.yaml --params_file hyper/ilm.hyper \
        --algo random --max_evals 8 --output_file hyper_ilm.result
"""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config_files", default="hyper/ilm_ml-100k.yaml", help="space-separated fixed YAMLs "
                        "(they name model and dataset)")
    parser.add_argument("--params_file", default="hyper/ilm.hyper", help="RecBole hyper file (name type values)")
    parser.add_argument("--algo", default="random", choices=["exhaustive", "random", "bayes"])
    parser.add_argument("--max_evals", type=int, default=8)
    parser.add_argument("--early_stop", type=int, default=10)
    parser.add_argument("--output_file", default="hyper_ilm.result")
    from recbole_ilm import cli

    args = cli.parse(parser, argv)

    from recbole.trainer import HyperTuning

    from recbole_ilm.quick_start import objective_function

    tuner = HyperTuning(objective_function, algo=args.algo, early_stop=args.early_stop, max_evals=args.max_evals,
                        params_file=args.params_file, fixed_config_file_list=args.config_files.split())
    tuner.run()
    tuner.export_result(output_file=args.output_file)
    print("best params:", tuner.best_params)
    print("best result:", tuner.params2result[tuner.params2str(tuner.best_params)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
