"""The class names of the official single-label weights: ImageNet-1k's 1000 classes, in index order.

The data file ``imagenet1k_label_list.txt`` (``"<id> <WordNet synonyms>"`` per line) is
PaddleClas's ``ppcls/utils/imagenet1k_label_list.txt`` (Apache-2.0), the list the official
single-label inference packages carry in ``inference.yml`` (``PostProcess.Topk.label_list``:
the text after the id, e.g. ``tench, Tinca tinca``).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["imagenet1k_labels"]


@lru_cache(maxsize=1)
def imagenet1k_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, index order, as the official packages name them."""
    text = (
        resources.files("mlcls_cli.models").joinpath("imagenet1k_label_list.txt").read_text(encoding="utf-8")
    )
    names = [line.split(" ", 1)[1].strip() for line in text.splitlines() if line.strip()]
    assert len(names) == 1000, len(names)
    return tuple(names)
