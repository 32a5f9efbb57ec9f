"""safe_extract: flattening, and refusal of members that would escape the target."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from mlcls_cli.errors import ExitCode, IOFailure
from mlcls_cli.hub import UnsafeArchiveError, safe_extract
from tests.hub.hubkit import make_tar, package_files


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".extract-" in p.name or ".old-" in p.name)


def test_single_top_folder_is_flattened(tmp_path: Path) -> None:
    archive = tmp_path / "m_infer.tar"
    archive.write_bytes(make_tar(package_files(), top="PP-LCNet_x1_0_ML_infer"))
    target = safe_extract(archive, tmp_path / "cache" / "inference")
    assert sorted(p.name for p in target.iterdir()) == [
        "inference.json",
        "inference.pdiparams",
        "inference.yml",
    ]
    assert (target / "inference.pdiparams").read_bytes() == package_files()["inference.pdiparams"]
    assert _leftovers(target.parent) == []


def test_flat_archive_works_too(tmp_path: Path) -> None:
    archive = tmp_path / "flat.tar"
    archive.write_bytes(make_tar(package_files(), top=None))
    target = safe_extract(archive, tmp_path / "out")
    assert (target / "inference.yml").is_file()


def test_compressed_archive_is_detected(tmp_path: Path) -> None:
    archive = tmp_path / "pkg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"Global: {}\n"
        info = tarfile.TarInfo("pkg/inference.yml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert (safe_extract(archive, tmp_path / "out") / "inference.yml").read_bytes() == b"Global: {}\n"


def test_existing_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    archive = _tar(tmp_path / "a.tar", [_file("new.txt", b"new")])
    safe_extract(archive, target)
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "members",
    [
        [_file("ok.txt"), _file("../evil.txt")],
        [_file("pkg/../../evil.txt")],
        [_file("/tmp/evil-absolute.txt")],
        [_link("link", "../evil.txt")],
        [_link("pkg/link", "../../evil.txt")],
        [_link("link", "/etc/passwd")],
        [_file("pkg/a.txt"), _link("pkg/hard", "../evil.txt", tarfile.LNKTYPE)],
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "absolute",
        "symlink-out",
        "nested-symlink-out",
        "symlink-absolute",
        "hardlink-out",
    ],
)
def test_member_escaping_the_target_is_refused(tmp_path: Path, members: list) -> None:
    work = tmp_path / "work"
    work.mkdir()
    archive = _tar(tmp_path / "bad.tar", members)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UnsafeArchiveError) as info:
        safe_extract(archive, work / "cache" / "inference")
    assert info.value.exit_code == ExitCode.IOERR
    assert "refusing to extract" in info.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written beside or above
    assert not (work / "cache" / "inference").exists()
    assert not (work / "evil.txt").exists()
    assert not (work / "cache").exists() or _leftovers(work / "cache") == []


def test_symlink_chain_that_resolves_outside_is_refused(tmp_path: Path) -> None:
    # each link looks harmless on its own; together "b" points at the target's parent
    work = tmp_path / "work"
    work.mkdir()
    archive = _tar(
        tmp_path / "chain.tar", [_link("a", "."), _link("sub/b", "../a/.."), _file("sub/b/evil.txt")]
    )
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, work / "target", flatten=False)
    assert not (work / "evil.txt").exists()
    assert not (work / "target").exists()
    assert _leftovers(work) == []


def test_device_file_is_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("dev")
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    fifo = tarfile.TarInfo("fifo")
    fifo.type = tarfile.FIFOTYPE
    for member in (info, fifo):
        archive = _tar(tmp_path / f"{member.name}.tar", [(member, None)])
        with pytest.raises(UnsafeArchiveError, match="device file or FIFO"):
            safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_links_inside_the_archive_are_kept(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "links.tar",
        [
            _file("pkg/inference.pdiparams", b"weights"),
            _link("pkg/alias.pdiparams", "inference.pdiparams"),
            _link("pkg/copy.pdiparams", "pkg/inference.pdiparams", tarfile.LNKTYPE),
        ],
    )
    target = safe_extract(archive, tmp_path / "out")
    assert (target / "alias.pdiparams").read_bytes() == b"weights"
    assert (target / "copy.pdiparams").read_bytes() == b"weights"


def test_not_a_tar_is_an_io_failure(tmp_path: Path) -> None:
    archive = tmp_path / "junk.tar"
    archive.write_bytes(b"this is not an archive" * 100)
    with pytest.raises(IOFailure, match="cannot read the archive"):
        safe_extract(archive, tmp_path / "out")


def test_truncated_tar_is_an_io_failure(tmp_path: Path) -> None:
    data = make_tar(package_files())
    archive = tmp_path / "short.tar"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(IOFailure):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert _leftovers(tmp_path) == []


def test_failing_before_commit_keeps_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "pkg.tar"
    archive.write_bytes(make_tar(package_files()))
    seen: list[Path] = []

    def reject(folder: Path) -> None:
        seen.append(folder)
        assert (folder / "inference.yml").is_file()  # the hook sees the complete, flattened folder
        raise IOFailure("no thanks")

    with pytest.raises(IOFailure, match="no thanks"):
        safe_extract(archive, tmp_path / "out", before_commit=reject)
    assert seen and not (tmp_path / "out").exists()
    assert _leftovers(tmp_path) == []
