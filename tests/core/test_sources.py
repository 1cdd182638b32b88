"""Data resolution: data dir, cache, download; checksums refuse tampered or truncated copies."""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import pytest

from pepr.core import sources
from pepr.core.errors import ChecksumError, MissingDataError


def remote_for(content: bytes, name: str = "table.csv") -> sources.RemoteFile:
    return sources.RemoteFile(
        group="demo", name=name, url="https://example.invalid/table.csv",
        sha256=hashlib.sha256(content).hexdigest(),
    )


def test_data_dir_wins_over_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = b"a,b\n1,2\n"
    for root in ("data", "cache"):
        (tmp_path / root / "demo").mkdir(parents=True)
        (tmp_path / root / "demo" / "table.csv").write_bytes(content)
    monkeypatch.setenv("PEPR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PEPR_CACHE_DIR", str(tmp_path / "cache"))
    assert sources.resolve(remote_for(content)) == tmp_path / "data" / "demo" / "table.csv"
    monkeypatch.delenv("PEPR_DATA_DIR")
    assert sources.resolve(remote_for(content)) == tmp_path / "cache" / "demo" / "table.csv"


@pytest.mark.parametrize("damage", ["tamper", "truncate"])
def test_damaged_copy_names_file_and_both_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path, damage: str
) -> None:
    original = data_dir / "paper" / "model_names.csv"
    copy_root = tmp_path / "data"
    (copy_root / "paper").mkdir(parents=True)
    copy = copy_root / "paper" / "model_names.csv"
    shutil.copyfile(original, copy)
    data = copy.read_bytes()
    copy.write_bytes(data.replace(b"CNN", b"MLP", 1) if damage == "tamper" else data[: len(data) // 2])
    monkeypatch.setenv("PEPR_DATA_DIR", str(copy_root))

    from pepr.data.paper import PAPER_FILES, read_paper_table

    with pytest.raises(ChecksumError) as error:
        read_paper_table("model_names.csv")
    message = str(error.value)
    assert "model_names.csv" in message
    assert PAPER_FILES["model_names.csv"].sha256 in message
    assert hashlib.sha256(copy.read_bytes()).hexdigest() in message


def test_no_copy_and_no_network_says_how_to_provide_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
) -> None:
    monkeypatch.setenv("PEPR_DATA_DIR", str(tmp_path / "empty"))

    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    from pepr.data.paper import read_paper_table

    with pytest.raises(MissingDataError) as error:
        read_paper_table("all_results.csv")
    message = str(error.value)
    assert "all_results.csv" in message and "PEPR_DATA_DIR" in message
    assert "raw.githubusercontent.com" in message  # the pinned address to download from
    assert not any(isolated_cache.rglob("*.part"))  # no half-written file left behind


@pytest.fixture()
def served(tmp_path: Path):
    """A folder served over HTTP on loopback (a download that needs no internet): yields
    (folder, base URL)."""
    import functools
    import http.server
    import threading

    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # keep the test output quiet
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_verifies_and_lands_in_cache(
    served, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
) -> None:
    folder, base = served
    content = b"x,y\n3,4\n"
    (folder / "served.csv").write_bytes(content)
    remote = sources.RemoteFile(group="demo", name="t.csv", url=f"{base}/served.csv",
                                sha256=hashlib.sha256(content).hexdigest())
    monkeypatch.delenv("PEPR_DATA_DIR", raising=False)
    path = sources.resolve(remote)
    assert path == isolated_cache / "demo" / "t.csv" and path.read_bytes() == content

    bad = sources.RemoteFile(group="demo", name="u.csv", url=f"{base}/served.csv", sha256="0" * 64)
    with pytest.raises(ChecksumError, match="u.csv"):
        sources.resolve(bad)
    assert sorted(p.name for p in (isolated_cache / "demo").iterdir()) == ["t.csv"]  # nothing half-kept

    gone = sources.RemoteFile(group="demo", name="v.csv", url=f"{base}/absent.csv", sha256="0" * 64)
    with pytest.raises(MissingDataError, match="download failed"):
        sources.resolve(gone)


def test_downloads_can_be_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path) -> None:
    monkeypatch.delenv("PEPR_DATA_DIR", raising=False)
    with pytest.raises(MissingDataError, match="downloads disabled"):
        sources.resolve(remote_for(b"z"), allow_download=False)
