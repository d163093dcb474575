"""What every command line of the plugin shares.

RecBole's ``Config`` reads ``--key=value`` options from ``sys.argv`` by itself and warns "command line args [...]
will not be used" about everything else it finds there. Each command therefore parses its own flags, then leaves
RecBole exactly the ``--key=value`` options meant for it (:func:`parse`); user errors end as one ``error: ...``
line and exit code 2 (:func:`run`), never a traceback.
"""

import sys

from recbole_ilm.errors import ILMConfigError


def key_value_options(args):
    """``(options, stray)``: the ``--key=value`` arguments RecBole reads, and everything else."""
    options = [a for a in args if a.startswith("--") and len(a[2:].split("=")) == 2]
    return options, [a for a in args if a not in options]


def recbole_sees(options=()):
    """Leave RecBole's Config exactly ``options`` on the command line (spawned ranks inherit it)."""
    sys.argv = sys.argv[:1] + list(options)


def parse(parser, argv=None, pass_options=False):
    """``parser``'s arguments; with ``pass_options`` the leftover ``--key=value`` options go to RecBole (anything
    else is an error), without it RecBole sees none."""
    if not pass_options:
        args = parser.parse_args(argv)
        recbole_sees()
        return args
    args, rest = parser.parse_known_args(argv)
    options, stray = key_value_options(rest)
    if stray:
        raise ILMConfigError(f"command line: {' '.join(stray)} not understood; give options as --key=value "
                             f"(e.g. --epochs=5) and YAML files with --config_files")
    recbole_sees(options)
    return args


def run(main, *args, **kwargs):
    """``main(*args, **kwargs)``, with a user error printed as one line and exit code 2."""
    try:
        result = main(*args, **kwargs)
    except ILMConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return result if isinstance(result, int) and not isinstance(result, bool) else 0
