"""Publishing without replacing: one winner among concurrent publishers, and stale partials of dead runs removed."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from repsr_video import publish as publish_module
from repsr_video.errors import OutputError
from repsr_video.publish import STALE_EMPTY_AGE, PartialFile, partial_pattern, remove_stale_partials

MECHANISMS = ["renameat2", "link", "lock"]


@pytest.fixture(params=MECHANISMS)
def mechanism(request, monkeypatch):
    """Force the file system to refuse the earlier mechanisms, as FAT or an old kernel would."""
    if request.param == "renameat2" and publish_module._renameat2 is None:
        pytest.skip("this libc has no renameat2")
    if request.param in ("link", "lock"):
        monkeypatch.setattr(publish_module, "_renameat2", None)
    if request.param == "lock":
        def no_links(*args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(publish_module.os, "link", no_links)
    return request.param


def partial_with(target: Path, text: str) -> PartialFile:
    partial = PartialFile(target)
    partial.path.write_text(text)
    return partial


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name)


def test_publish_moves_the_partial_onto_a_free_name(tmp_path, mechanism):
    target = tmp_path / "out.mp4"
    partial = partial_with(target, "new")
    partial.publish(overwrite=False)
    assert target.read_text() == "new" and partials(tmp_path) == []


def test_publish_never_replaces_an_existing_file(tmp_path, mechanism):
    target = tmp_path / "out.mp4"
    partial = partial_with(target, "new")
    target.write_text("made by someone else during the run")
    with pytest.raises(OutputError, match=r"out\.mp4: was created by someone else while this run was writing it") as caught:
        partial.publish(overwrite=False)
    assert "\n" not in str(caught.value)
    assert target.read_text() == "made by someone else during the run"
    partial.discard()
    assert partials(tmp_path) == []


def test_overwrite_replaces(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_text("old")
    partial_with(target, "new").publish(overwrite=True)
    assert target.read_text() == "new" and partials(tmp_path) == []


def test_a_dangling_symlink_at_the_target_counts_as_existing(tmp_path, mechanism):
    target = tmp_path / "out.mp4"
    target.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError):
        partial_with(target, "new").publish(overwrite=False)
    assert target.is_symlink()


def test_concurrent_threads_one_winner(tmp_path, mechanism):
    target = tmp_path / "out.mkv"
    writers = [partial_with(target, f"writer {i}") for i in range(8)]
    barrier = threading.Barrier(len(writers))
    outcomes: dict[int, str] = {}

    def run(i: int) -> None:
        barrier.wait()
        try:
            writers[i].publish(overwrite=False)
            outcomes[i] = "won"
        except OutputError:
            writers[i].discard()
            outcomes[i] = "lost"

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1 and len(outcomes) == len(writers)
    assert target.read_text() == f"writer {winners[0]}"
    assert partials(tmp_path) == []


PUBLISHER = textwrap.dedent("""
    import sys, time
    from repsr_video.errors import OutputError
    from repsr_video.publish import PartialFile
    target, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    partial = PartialFile(target)
    partial.path.write_text(name)
    time.sleep(max(0.0, start - time.time()))
    try:
        partial.publish(overwrite=False)
        print("won")
    except OutputError as error:
        partial.discard()
        print("lost:", error)
""")


def test_concurrent_processes_one_winner(tmp_path):
    target = tmp_path / "out.mp4"
    start = time.time() + 2.0  # every process has written its partial by then
    procs = [subprocess.Popen([sys.executable, "-c", PUBLISHER, str(target), f"run {i}", str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(6)]
    results = [proc.communicate(timeout=60) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in results]
    won = [i for i, (out, _) in enumerate(results) if out.strip() == "won"]
    assert len(won) == 1, results
    assert all(out.startswith("lost: ") and out.count("\n") == 1 for i, (out, _) in enumerate(results) if i != won[0])
    assert target.read_text() == f"run {won[0]}"
    assert partials(tmp_path) == []


def test_the_published_file_has_ordinary_permissions(tmp_path):
    target = tmp_path / "out.png"
    partial_with(target, "x").publish(overwrite=False)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


def test_a_failed_block_leaves_nothing(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(KeyboardInterrupt), PartialFile(target) as partial:
        partial.path.write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


# --- stale partials --------------------------------------------------------------------------


def stale(target: Path, random: str = "abcd_123", text: str = "half a video") -> Path:
    path = target.parent / f".{target.stem}.{random}.partial{target.suffix}"
    path.write_text(text)
    return path


def test_names_are_ours_exactly(tmp_path):
    target = tmp_path / "clip.v2.mp4"
    pattern = partial_pattern(target)
    assert pattern.fullmatch(PartialFile(target).path.name)
    for name in (".clip.v2.abcd_123.partial.mkv", "clip.v2.abcd_123.partial.mp4", ".clip.v2.abcd_1234.partial.mp4",
                 ".clip.abcd_123.partial.mp4", ".clip.v2.abcd-123.partial.mp4", ".clip.v2.abcd_123.partial.mp4.bak"):
        assert not pattern.fullmatch(name), name


def test_a_dead_writers_partial_is_removed_and_nothing_else(tmp_path):
    target = tmp_path / "clip.mp4"
    dead = stale(target)
    names = (".clip.abcd_123.partial.mkv", ".clip.x.partial.mp4", ".other.abcd_123.partial.mp4", "clip.mp4")
    others = [tmp_path / name for name in names]
    for path in others:
        path.write_text("not a stale partial of clip.mp4")
    (tmp_path / ".clip.zzzz_999.partial.mp4").symlink_to(others[-1])
    assert remove_stale_partials(target) == [dead]
    assert not dead.exists() and all(path.exists() for path in others)
    assert (tmp_path / ".clip.zzzz_999.partial.mp4").is_symlink()


def test_a_live_writers_partial_is_kept(tmp_path):
    target = tmp_path / "clip.mp4"
    with PartialFile(target) as live:
        live.path.write_text("being written")
        assert remove_stale_partials(target) == []
        assert live.path.exists()


def test_an_empty_partial_is_kept_while_young(tmp_path):
    target = tmp_path / "clip.mp4"
    young = stale(target, text="")
    assert remove_stale_partials(target) == []
    old = time.time() - STALE_EMPTY_AGE - 1
    os.utime(young, (old, old))
    assert remove_stale_partials(target) == [young]


HOLDER = textwrap.dedent("""
    import sys, time
    from repsr_video.publish import PartialFile
    partial = PartialFile(sys.argv[1])
    partial.path.write_text("frames so far")
    print(partial.path, flush=True)
    time.sleep(120)
""")


def test_a_partial_of_a_killed_process_is_removed_only_after_it_died(tmp_path):
    target = tmp_path / "clip.mkv"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        path = Path(holder.stdout.readline().strip())
        assert path.exists()
        assert remove_stale_partials(target) == []  # alive: its lock is held
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert remove_stale_partials(target) == [path]
        assert not path.exists()
    finally:
        holder.kill()
        holder.wait()
