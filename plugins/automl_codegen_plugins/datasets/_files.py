"""Where datasets read from files live on disk, and the errors that say where to put them.

Nothing is ever downloaded. A dataset named ``name`` is read from, in this order:
the ``root`` option, ``$AUTOML_CODEGEN_DATA/name``, ``~/.automl_codegen/data/name``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import attrs

from automl_codegen import ConfigError
from automl_codegen.options import check

ENV_VAR = "AUTOML_CODEGEN_DATA"
DEFAULT_HOME = "~/.automl_codegen/data"


@attrs.frozen
class DataDirectory:
    """A dataset's resolved directory and how it was chosen (for error messages)."""

    dataset: str
    path: Path
    origin: str

    def missing(self, expected: str, files: Sequence[str] = (), *, path: Path | None = None) -> ConfigError:
        """The error for an absent directory (no ``files``) or absent ``files`` in ``path``.

        ``expected`` says which files belong there and in which format.
        """
        where = path or self.path
        if files:
            problem = f"{where} ({self.origin}) has no {_and(files)}"
        else:
            problem = f"the data directory {where} ({self.origin}) does not exist"
        return ConfigError(f"{self.dataset}: {problem}. {expected} Nothing is downloaded; {self.elsewhere()}.")

    def elsewhere(self) -> str:
        return (
            f"to read {self.dataset} from another place pass --dataset-option root=PATH "
            f"(dataset_options={{'root': PATH}} in Python) or set {ENV_VAR} to a folder that contains {self.dataset}/"
        )


def is_directory_path(value: object) -> bool:
    """A non-empty ``str`` or :class:`os.PathLike` (not checked for existence)."""
    return isinstance(value, str | os.PathLike) and bool(str(value))


#: The validator of a dataset's ``root`` option (None: the environment, or the default).
#: Structured with the dataset's name as the owner, it words "mnist: root must be ...".
root_path = check(
    is_directory_path, "a directory path", optional=True, message="{owner}: {name} must be {expected}, got {value!r}"
)


def data_directory(dataset: str, root: str | os.PathLike[str] | None) -> DataDirectory:
    """Resolve ``root`` (or the environment, or the default) to an absolute directory."""
    if root is not None:
        if not is_directory_path(root):
            msg = f"{dataset}: root must be a directory path, got {root!r}"
            raise ConfigError(msg)
        path, origin = Path(root), "from the root option"
    elif os.environ.get(ENV_VAR):
        path, origin = Path(os.environ[ENV_VAR]) / dataset, f"from {ENV_VAR}"
    else:
        path, origin = Path(DEFAULT_HOME) / dataset, f"the default location; {ENV_VAR} is not set"
    return DataDirectory(dataset, path.expanduser().resolve(), origin)


def _and(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
