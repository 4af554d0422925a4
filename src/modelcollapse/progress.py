"""The project's progress-bar policy (DESIGN.md): tqdm bars on anything that takes more than a
second, silent when the output is not a terminal, unless the caller forces them on or off."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def progress_bar(
    iterable: Iterable[Any] | None = None, *, progress: bool | None = None, **kwargs: Any
) -> tqdm:
    """A tqdm bar: ``progress=None`` shows it on a terminal only, after one second."""
    kwargs.setdefault("delay", 1.0)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, disable=None if progress is None else not progress, **kwargs)
