"""Where the SLO file is: an explicit path, ``$SLOLAB_SLO_FILE``, or found upward from here.

So ``slolab slo status`` works from any folder of a checkout (and from any
folder at all with the variable set), not only from where ``slos.yaml`` lies.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_NAME",
    "ENV_FILE",
    "FILE_HELP",
    "find_slo_file",
    "read_config",
    "rewrite",
    "round_trip_yaml",
    "searched_message",
]

DEFAULT_NAME = "slos.yaml"
ENV_FILE = "SLOLAB_SLO_FILE"
FILE_HELP = f"the SLO file (default: ${ENV_FILE}, else the nearest {DEFAULT_NAME} upward from here)"


def find_slo_file(explicit: str | Path | None = None, start: Path | None = None) -> Path:
    """``explicit``, else ``$SLOLAB_SLO_FILE``, else the nearest ``slos.yaml`` upward.

    With none found, the plain name is returned: loading it then fails with a
    message naming the file, and :func:`searched_message` says where we looked.
    """
    if explicit:
        return Path(explicit)
    if env := os.environ.get(ENV_FILE):
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_NAME
        if candidate.is_file():
            return candidate
    return Path(DEFAULT_NAME)


def searched_message(start: Path | None = None) -> str:
    """Why no SLO file was found, and how to name one."""
    here = (start or Path.cwd()).resolve()
    return f"no {DEFAULT_NAME} in {here} or any folder above it; pass --file PATH or set {ENV_FILE}"


def read_config(path: str | Path, error: type[Exception]) -> tuple[str, str]:
    """(text, source name) of a UTF-8 file; failing to read it raises ``error`` naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None


def round_trip_yaml() -> Any:
    """ruamel.yaml set up to edit ``slos.yaml`` in place: comments, quotes and order kept."""
    from ruamel.yaml import YAML

    y = YAML()  # round trip
    y.preserve_quotes = True
    y.width = 4096  # never fold a long PromQL selector
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def rewrite(path: Path, change: Callable[[Any], None], validate: Callable[[str], Any]) -> str:
    """Edit a YAML file in place: ``change(data)``, then ``validate(text)``, then write.

    Nothing is written when ``change`` or ``validate`` raises: never an invalid file.
    """
    import io

    y = round_trip_yaml()
    data = y.load(path.read_text(encoding="utf-8"))
    change(data)
    out = io.StringIO()
    y.dump(data, out)
    validate(out.getvalue())
    path.write_text(out.getvalue(), encoding="utf-8")
    return out.getvalue()
