"""recbole-ilm: ILM (Item-Language Model) as a RecBole plugin.

Importing the package also makes RecBole's own entry points (``recbole.quick_start.run_recbole``,
``recbole.utils.get_model`` / ``get_trainer``, ``load_data_and_model``) find the plugin's models; see
:mod:`recbole_ilm.registry`.
"""

from recbole_ilm import compat as _compat

_compat.restore_numpy_aliases()

__version__ = "0.1.0"

from recbole_ilm import registry as _registry  # noqa: E402  (after the numpy aliases RecBole needs)

_registry.register()
