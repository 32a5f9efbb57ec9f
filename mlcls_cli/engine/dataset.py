"""The training/eval dataset and data loader, reproducible for any number of workers and ranks.

:class:`MultiLabelDataset` decodes one list-file sample and returns
``(image float32 (3, H, W), multi-hot float32 (K,))``, or for ClsDataset samples
(:class:`~mlcls_cli.data.listfile.ClsSample`, with a ``class_id``) the class id as int64. In training its random
stream is a pure function of ``(seed, epoch, index)`` (see :func:`sample_rng`), so
augmentation does not depend on worker count, worker scheduling or resume.
:func:`build_loader` wraps it in a ``paddle.io.DataLoader`` whose batch sampler
shuffles as a pure function of ``(seed, epoch)`` and, with several ranks, hands
each rank a disjoint, equally long slice (padding by repeating indices, as
``paddle.io.DistributedBatchSampler`` does).

Importing this module does not import paddle: ``MultiLabelDataset`` (a real
``paddle.io.Dataset`` subclass) is created on first access. Differences from
PaddleClas: per-sample seeding (PaddleClas workers share global RNGs seeded per
worker), and the shuffle order depends only on the seed and epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcls_cli.data.listfile import Sample
from mlcls_cli.engine.transforms import load_image
from mlcls_cli.errors import DatasetError

if TYPE_CHECKING:
    import paddle

__all__ = [
    "EpochBatchSampler",
    "build_loader",
    "default_num_workers",
    "sample_rng",
    "set_loader_epoch",
    "shared_memory_ok",
]


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random generator of sample ``index`` in ``epoch`` of a run seeded with ``seed``."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), int(index), 0x6D6C])


class _MultiLabelDatasetImpl:
    """The dataset logic; :class:`MultiLabelDataset` adds ``paddle.io.Dataset`` as a base."""

    def __init__(
        self,
        root: Path,
        samples: list[Sample],
        num_classes: int,
        transform: Callable[..., np.ndarray],
        *,
        train: bool,
        seed: int = 0,
    ) -> None:
        self.root = Path(root)
        self.samples = list(samples)
        self.num_classes = int(num_classes)
        self.transform = transform
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0
        if self.samples and hasattr(self.samples[0], "class_id"):
            self._labels = _class_ids(self.samples, self.num_classes)
            return
        self._labels = np.zeros((len(self.samples), self.num_classes), dtype=np.float32)
        for row, sample in enumerate(self.samples):
            if len(sample.labels) != self.num_classes:
                raise DatasetError(
                    f"line {sample.lineno}: {sample.path} has {len(sample.labels)} labels, "
                    f"expected {self.num_classes}",
                    hint="run `mlcls check` on the dataset",
                )
            self._labels[row] = sample.labels

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random stream ``__getitem__`` uses (training only)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> np.ndarray:
        """All targets in sample order: multi-hot (N, K) float32, or class ids (N,) int64 for a ClsDataset."""
        return self._labels

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        index = int(index)
        if index < 0:
            index += len(self.samples)
        sample = self.samples[index]
        img = load_image(self.root / sample.path)
        if self.train:
            image = self.transform(img, sample_rng(self.seed, self.epoch, index))
        else:
            image = self.transform(img)
        return image, self._labels[index].copy()


def _class_ids(samples: Sequence[Any], num_classes: int) -> np.ndarray:
    """The class ids of ClsDataset samples as int64, each checked against ``num_classes``."""
    ids = np.empty(len(samples), dtype=np.int64)
    for row, sample in enumerate(samples):
        class_id = int(sample.class_id)
        if not 0 <= class_id < num_classes:
            raise DatasetError(
                f"line {sample.lineno}: {sample.path} has class id {class_id}, "
                f"label.txt has {num_classes} classes (0..{num_classes - 1})",
                hint="run `mlcls check` on the dataset",
            )
        ids[row] = class_id
    return ids


def _make_dataset_class() -> type:
    import paddle

    cls = type(
        "MultiLabelDataset",
        (_MultiLabelDatasetImpl, paddle.io.Dataset),
        {
            "__module__": __name__,
            "__qualname__": "MultiLabelDataset",
            "__doc__": (
                "A map-style ``paddle.io.Dataset`` over list-file samples: ``(image (3,H,W) float32, target)`` with a "
                "multi-hot float32 (K,) target, or an int64 class id for ClsDataset samples; training draws "
                "are a function of (seed, epoch, index)."
            ),
        },
    )
    return cls


def __getattr__(name: str) -> Any:
    # the class needs paddle.io.Dataset as a base; build it on first use so importing this module stays light
    if name == "MultiLabelDataset":
        cls = _make_dataset_class()
        globals()["MultiLabelDataset"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def epoch_indices(
    n: int, *, shuffle: bool, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> list[int]:
    """The sample order of ``rank`` for one epoch: shuffled by (seed, epoch), padded, then sliced."""
    if n <= 0:
        return []
    if shuffle:
        order = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), 0x5348]).permutation(n).tolist()
    else:
        order = list(range(n))
    if world_size > 1:
        per_rank = -(-n // world_size)
        total = per_rank * world_size
        while len(order) < total:  # repeat from the start, like DistributedBatchSampler
            order += order[: total - len(order)]
        order = order[rank * per_rank : (rank + 1) * per_rank]
    return order


class EpochBatchSampler:
    """Batches of dataset indices for one rank; the order is a function of (seed, epoch).

    ``start_batch`` skips the first batches of the epoch (to continue an interrupted
    epoch exactly); it is reset to 0 by :meth:`set_epoch`.
    """

    def __init__(
        self,
        num_samples: int,
        *,
        batch_size: int,
        shuffle: bool,
        drop_last: bool,
        seed: int = 0,
        epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not valid for world_size {world_size}")
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(seed)
        self.epoch = int(epoch)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.start_batch = int(start_batch)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch (and optionally the first batch) of the next iteration."""
        self.epoch = int(epoch)
        self.start_batch = int(start_batch)

    @property
    def samples_per_rank(self) -> int:
        """Samples each rank sees per epoch (after padding, before dropping the last batch)."""
        if self.num_samples <= 0:
            return 0
        return -(-self.num_samples // self.world_size)

    def batches(self) -> list[list[int]]:
        """All batches of the current epoch for this rank, ``start_batch`` not applied."""
        order = epoch_indices(
            self.num_samples,
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
            rank=self.rank,
            world_size=self.world_size,
        )
        out = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and out and len(out[-1]) < self.batch_size:
            out.pop()
        return out

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.start_batch :]

    def __len__(self) -> int:
        per_rank = self.samples_per_rank
        full = per_rank // self.batch_size if self.drop_last else -(-per_rank // self.batch_size)
        return max(0, full - self.start_batch)


def _collate(batch: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    images = np.stack([item[0] for item in batch])
    labels = np.stack([item[1] for item in batch])
    return images, labels


def build_loader(
    dataset: Any,
    *,
    batch_size: int,
    shuffle: bool,
    drop_last: bool,
    num_workers: int = 0,
    seed: int = 0,
    epoch: int = 0,
    rank: int = 0,
    world_size: int = 1,
    start_batch: int = 0,
) -> paddle.io.DataLoader:
    """A DataLoader yielding ``(images [B,3,H,W] float32, labels)`` paddle tensors (labels [B,K] float32 or [B] int64).

    Shuffling is a function of ``(seed, epoch)``; with ``world_size > 1`` each rank gets a
    disjoint slice of equal length. Call :func:`set_loader_epoch` before each epoch (or
    build a new loader) so both the order and the augmentation follow the epoch.
    """
    import paddle

    sampler = EpochBatchSampler(
        len(dataset),
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        seed=seed,
        epoch=epoch,
        rank=rank,
        world_size=world_size,
        start_batch=start_batch,
    )
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    return paddle.io.DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=max(0, int(num_workers)),
        collate_fn=_collate,
        use_shared_memory=num_workers > 0 and shared_memory_ok(),
        return_list=True,
    )


def set_loader_epoch(loader: Any, epoch: int, start_batch: int = 0) -> None:
    """Point a loader from :func:`build_loader` (sampler and dataset) at ``epoch``."""
    loader.batch_sampler.set_epoch(epoch, start_batch)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)


def default_num_workers(image_size: int, device: str = "cpu") -> int:
    """DataLoader worker processes per training process for this input size and device.

    On CPU: 0 at every size. The model step and decoding share the same few cores, and
    paddle's buffered reader already overlaps in-process loading with compute; measured
    on 2 cores with PP-LCNet_x1_0_ML (batch 16 at 64 px, batch 8 at 224 px), 1 or 2
    workers were 10-60% slower than none. On GPU the CPU is otherwise idle and decoding
    (which depends on the source images, not on ``image_size``) becomes the bottleneck,
    so each device's process gets an equal share of the cores, one core kept for the
    training loop, at most 8.
    """
    del image_size  # kept in the signature: the choice may depend on it on other hardware
    spec = str(device).strip().lower()
    if not spec.startswith(("gpu", "cuda")):
        return 0
    _, _, ids = spec.partition(":")
    devices = max(1, len([i for i in ids.split(",") if i.strip()])) if ids else 1
    cores = os.cpu_count() or 1
    return max(0, min(8, (cores - devices) // devices))


def shared_memory_ok(min_free_bytes: int = 512 * 1024**2) -> bool:
    """Whether ``/dev/shm`` has room for worker batches (small in some containers: 64 MB in Docker)."""
    try:
        stats = os.statvfs("/dev/shm")
    except (OSError, AttributeError):
        return False
    return stats.f_bavail * stats.f_frsize >= min_free_bytes
