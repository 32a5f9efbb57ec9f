"""The model zoo cache: verified, resumable downloads of official models and other files.

``ensure_inference_model(name)`` and ``ensure_pretrained_weights(name)`` return local
paths, downloading only what is missing or damaged. Paddle is never imported here,
and ``requests`` only when a download starts.
"""

from __future__ import annotations

from mlcls_cli.hub.cache import (
    CacheEntry,
    CleanResult,
    cache_root,
    cache_size,
    clean,
    entries_to_clean,
    list_cached,
    model_dir,
)
from mlcls_cli.hub.download import (
    OfflineError,
    RemoteNotFoundError,
    fetch_file,
    is_offline,
    mirror_url,
)
from mlcls_cli.hub.extract import UnsafeArchiveError, safe_extract
from mlcls_cli.hub.lock import LockBusyError, file_lock
from mlcls_cli.hub.models import cached_state, ensure_inference_model, ensure_pretrained_weights

__all__ = [
    "CacheEntry",
    "CleanResult",
    "LockBusyError",
    "OfflineError",
    "RemoteNotFoundError",
    "UnsafeArchiveError",
    "cache_root",
    "cache_size",
    "cached_state",
    "clean",
    "ensure_inference_model",
    "ensure_pretrained_weights",
    "entries_to_clean",
    "fetch_file",
    "file_lock",
    "is_offline",
    "list_cached",
    "mirror_url",
    "model_dir",
    "safe_extract",
]
