"""recbole-ilm: ILM (Item-Language Model) as a RecBole plugin."""

from recbole_ilm import compat as _compat

_compat.restore_numpy_aliases()

__version__ = "0.1.0"
