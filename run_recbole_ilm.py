"""Command line, like RecBole's run_recbole.py:

    python run_recbole_ilm.py -m ILM -d ml-100k [--config_files "a.yaml b.yaml"] [--key=value ...]
    python run_recbole_ilm.py -m ILM -d ml-1m --nproc 2          # torch.distributed (NCCL on GPUs, gloo on CPUs)
"""

import argparse
import sys

from recbole_ilm.errors import ILMConfigError


def main(argv=None):
    parser = argparse.ArgumentParser(description="RecBole + ILM (Item-Language Model)")
    parser.add_argument("--model", "-m", type=str, default="ILM", help="plugin or RecBole model name")
    parser.add_argument("--dataset", "-d", type=str, default="ml-100k", help="dataset name")
    parser.add_argument("--config_files", type=str, default=None, help="space-separated YAML files")
    parser.add_argument("--nproc", type=int, default=1, help="processes on this machine")
    parser.add_argument("--world_size", type=int, default=-1, help="processes in the whole group")
    parser.add_argument("--ip", type=str, default="localhost", help="address of the rank-0 machine")
    parser.add_argument("--port", type=str, default="5678", help="port of the rank-0 machine")
    parser.add_argument("--group_offset", type=int, default=0, help="global rank of this machine's first process")
    args, rest = parser.parse_known_args(argv)
    config_files = args.config_files.strip().split(" ") if args.config_files else None
    options = [a for a in rest if a.startswith("--") and len(a[2:].split("=")) == 2]
    stray = [a for a in rest if a not in options]
    if stray:
        print(f"error: command line: {' '.join(stray)} not understood; give options as --key=value "
              f"(e.g. --epochs=5) and YAML files with --config_files", file=sys.stderr)
        return 2
    # RecBole's Config reads --key=value from sys.argv itself and warns about everything else it finds there
    # ("command line args [-m ILM ...] will not be used"): it gets exactly the options
    sys.argv = sys.argv[:1] + options

    from recbole_ilm.quick_start import run

    try:
        run(model=args.model, dataset=args.dataset, config_file_list=config_files, nproc=args.nproc,
            world_size=args.world_size, ip=args.ip, port=args.port, group_offset=args.group_offset)
    except ILMConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
