"""Command line, like RecBole's run_recbole.py:

    python run_recbole_ilm.py -m ILM -d ml-100k [--config_files "a.yaml b.yaml"] [--key=value ...]
    python run_recbole_ilm.py --variant ILM-rand -d ml-100k      # a named variant (properties/variants/)
    python run_recbole_ilm.py -m ILM -d ml-1m --profile=paper    # paper-size models for a GPU (properties/profiles/)
    python run_recbole_ilm.py -m ILM -d ml-1m --nproc 2          # torch.distributed (NCCL on GPUs, gloo on CPUs)
"""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description="RecBole + ILM (Item-Language Model)")
    parser.add_argument("--model", "-m", type=str, default="ILM", help="plugin or RecBole model name")
    parser.add_argument("--dataset", "-d", type=str, default="ml-100k", help="dataset name")
    parser.add_argument("--variant", type=str, default=None,
                        help="a named variant (properties/variants/<name>.yaml, e.g. ILM-rand); sets the model")
    parser.add_argument("--profile", type=str, default=None,
                        help="a size/schedule profile (properties/profiles/<name>.yaml, e.g. paper: GPU sizes)")
    parser.add_argument("--config_files", type=str, default=None, help="space-separated YAML files")
    parser.add_argument("--nproc", type=int, default=1, help="processes on this machine")
    parser.add_argument("--world_size", type=int, default=-1, help="processes in the whole group")
    parser.add_argument("--ip", type=str, default="localhost", help="address of the rank-0 machine")
    parser.add_argument("--port", type=str, default="5678", help="port of the rank-0 machine")
    parser.add_argument("--group_offset", type=int, default=0, help="global rank of this machine's first process")

    from recbole_ilm import cli

    def train():
        from recbole_ilm.quick_start import run
        from recbole_ilm.variants import profile_file, resolve_variant

        args = cli.parse(parser, argv, pass_options=True)  # RecBole gets exactly the --key=value options
        config_files = args.config_files.strip().split(" ") if args.config_files else []
        config_files = ([profile_file(args.profile)] if args.profile else []) + config_files or None
        model, variant = resolve_variant(args.variant, models=()) if args.variant else (args.model, {})
        run(model=model, dataset=args.dataset, config_file_list=config_files, config_dict=variant or None,
            nproc=args.nproc, world_size=args.world_size, ip=args.ip, port=args.port, group_offset=args.group_offset)

    return cli.run(train)


if __name__ == "__main__":
    sys.exit(main())
