"""Command line, like RecBole's run_recbole.py:

    python run_recbole_ilm.py -m ILM -d ml-100k [--config_files "a.yaml b.yaml"] [--key=value ...]
"""

import argparse
import sys

from recbole_ilm.errors import ILMConfigError


def main(argv=None):
    parser = argparse.ArgumentParser(description="RecBole + ILM (Item-Language Model)")
    parser.add_argument("--model", "-m", type=str, default="ILM", help="plugin or RecBole model name")
    parser.add_argument("--dataset", "-d", type=str, default="ml-100k", help="dataset name")
    parser.add_argument("--config_files", type=str, default=None, help="space-separated YAML files")
    args, _ = parser.parse_known_args(argv)
    config_files = args.config_files.strip().split(" ") if args.config_files else None

    from recbole_ilm.quick_start import run_recbole_ilm

    try:
        run_recbole_ilm(model=args.model, dataset=args.dataset, config_file_list=config_files)
    except ILMConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
