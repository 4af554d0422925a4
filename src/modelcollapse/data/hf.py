"""Optional loader for WikiText-2 raw from the Hugging Face hub (Merity et al. 2016).

The paper's unigram figure (Suresh, Thangaraj and Khandavally, AISTATS 2025) used the first
500,000 whitespace-separated words of the *raw* WikiText-2 training split
(``Salesforce/wikitext``, configuration ``wikitext-2-raw-v1``). The sample in ``../shared/data``
is the tokenised version (rare words replaced by ``<unk>``), whose curve lies above the published
one (SPEC.md, note under section 5). This module fetches the raw text on request; it needs the
``datasets`` extra and a network connection, and is never used implicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from modelcollapse.errors import ConfigError

INSTALL_HINT = "pip install 'modelcollapse[datasets]'"
DATASET = "Salesforce/wikitext"
CONFIG = "wikitext-2-raw-v1"


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            "datasets", "not installed", f"the optional extra: {INSTALL_HINT}"
        ) from None
    return datasets


def wikitext_raw_text(
    *, max_words: int | None = 500_000, split: str = "train", config: str = CONFIG
) -> str:
    """The text of WikiText-2 raw (or another ``config``), cut after ``max_words`` words.

    Words are counted by whitespace splitting, line by line, as the paper did; the text keeps
    its original lines, so the paper's tokeniser can then be applied to it.
    """
    ds = _datasets().load_dataset(DATASET, config, split=split)
    lines: list[str] = []
    words = 0
    for row in ds:
        line = row["text"]
        if max_words is not None:
            parts = line.split()
            if words + len(parts) >= max_words:
                lines.append(" ".join(parts[: max_words - words]) + "\n")
                break
            words += len(parts)
        lines.append(line)
    return "".join(lines)


def download_wikitext_raw(path: str | os.PathLike, *, max_words: int | None = 500_000) -> Path:
    """Write :func:`wikitext_raw_text` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(wikitext_raw_text(max_words=max_words), encoding="utf-8")
    return path
