"""Where the plugin's YAML folders live: inside the installed package, or at the root of a source checkout."""

import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def resource_dir(name):
    """``properties`` or ``dataset_configs`` for an installed package (copied into it) or a source checkout."""
    for candidate in (os.path.join(_PACKAGE_DIR, name), os.path.join(os.path.dirname(_PACKAGE_DIR), name)):
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(f"recbole_ilm is installed without its '{name}' folder; reinstall with 'pip install .'")
