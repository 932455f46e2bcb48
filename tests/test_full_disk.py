"""A full disk under --workdir (docs/bad_inputs.md): the run ends with one `error:` line
naming the run directory, exit 2; every file it leaves is whole (config.json and
metrics.jsonl complete, the last checkpoint readable), and the same command, once space
is freed, resumes from the last complete checkpoint and ends with the numbers of a run
that never stopped.

Two ways to fill a disk: a real small filesystem (tmpfs, mounted where the test runs as
root and may mount; skipped otherwise), and `OSError(ENOSPC)` injected into rankjax's
storage layer (the config, a metrics line, a picture) or into orbax's save (a
checkpoint), which runs everywhere."""

import errno
import json
import os
import shutil
import subprocess

import jax
import orbax.checkpoint as ocp
import pytest

import train as train_cli
from rankjax import checkpoints, config as config_lib, sharding, storage
from test_reliability import exits_with_one_line, one_device, tiny_run  # noqa: F401


def test_disk_full_is_recognised_through_the_libraries_wrappings():
    assert storage.is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert storage.is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    # tensorstore's error as orbax raises it, chained under orbax's own
    tensorstore = ValueError('RESOURCE_EXHAUSTED: Error writing "params.head/0" in OCDBT '
                             "database: Failed to write 7479296 bytes to file 8: No space "
                             "left on device [os_error_code='28']")
    try:
        try:
            raise tensorstore
        except ValueError as error:
            raise RuntimeError("Save Finalize thread (save_finalize) failed.") from error
    except RuntimeError as wrapped:
        assert storage.is_disk_full(wrapped)
    assert storage.is_disk_full(ExceptionGroup("saves", [KeyError("x"), tensorstore]))
    assert not storage.is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not storage.is_disk_full(ValueError("RESOURCE_EXHAUSTED: out of memory"))


# ------------------------------------------------------------ helpers


def _files_are_whole(workdir, steps_before):
    """config.json is the earlier run's or this one's, every metrics line is JSON, and the
    latest checkpoint of step `steps_before` is complete (orbax's folder named by its step)."""
    cfg = config_lib.from_json(open(os.path.join(workdir, "config.json")).read())
    assert cfg.task == "crowd"
    text = open(os.path.join(workdir, "metrics.jsonl")).read()
    assert text.endswith("\n")
    rows = [json.loads(line) for line in text.splitlines()]
    assert rows and all("step" in row for row in rows)
    assert str(steps_before) in os.listdir(os.path.join(workdir, "checkpoints"))
    leftovers = [name for folder, _, names in os.walk(workdir) for name in names
                 if ".tmp" in name]
    assert leftovers == []  # no temporary file of an atomic write


def _test_metrics(workdir):
    return json.load(open(os.path.join(workdir, "test", "results.json")))["metrics"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, crowd_folder):
    """A 2-step run to resume (copied by each test), and the test metrics of a 4-step run
    that never stopped."""
    mesh = sharding.make_mesh(jax.devices()[:1])
    original = sharding.make_mesh
    sharding.make_mesh = lambda *a, **k: mesh
    folder = tmp_path_factory.mktemp("runs")
    try:
        train_cli.main(tiny_run(crowd_folder, str(folder / "two"), 2))
        train_cli.main(tiny_run(crowd_folder, str(folder / "four"), 4))
    finally:
        sharding.make_mesh = original
    return str(folder / "two"), _test_metrics(str(folder / "four"))


def _two_steps(runs, workdir):
    shutil.copytree(runs[0], workdir)
    return workdir


def _resume_ends_as_if_never_stopped(crowd_folder, workdir, runs, caplog):
    caplog.clear()
    train_cli.main(tiny_run(crowd_folder, workdir, 4))
    assert "resumed from step 2" in caplog.text
    assert _test_metrics(workdir) == runs[1]


# ------------------------------------------------------------ injected ENOSPC


class _SmallDisk:
    """Files rankjax's storage layer opens for writing whose name ends in `suffix` take
    `room` bytes, then fail with ENOSPC (the bytes before it reach the file, as on a real
    disk)."""

    def __init__(self, suffix, room=0):
        self.suffix, self.room, self.hit = suffix, room, 0

    def open(self, path, mode="r", *args, **kwargs):
        f = open(path, mode, *args, **kwargs)
        if not any(m in mode for m in "wa") or not str(path).split(".tmp")[0].endswith(
                self.suffix):
            return f
        disk, write = self, f.write

        def limited(data):
            if len(data) > disk.room:
                write(data[:disk.room])
                disk.hit += 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
            disk.room -= len(data)
            return write(data)

        f.write = limited
        return f


@pytest.mark.parametrize("suffix, room", [
    ("config.json", 10),      # the resumed run's config (half of it would reach the file)
    ("metrics.jsonl", 40),    # a metrics line cut part way
    (".png", 100),            # a validation picture
])
def test_a_full_disk_in_the_storage_layer_ends_in_one_line_and_a_rerun_resumes(
        tmp_path, crowd_folder, one_device, capsys, caplog, runs, suffix, room):
    workdir = _two_steps(runs, str(tmp_path / "run"))
    disk = _SmallDisk(suffix, room)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(storage, "open", disk.open, raising=False)
        exits_with_one_line(capsys, lambda: train_cli.main(tiny_run(crowd_folder, workdir, 4)),
                            f"the disk holding the run directory {workdir!r} is full",
                            "resumes from the last complete checkpoint, step 2")
    assert disk.hit == 1
    _files_are_whole(workdir, 2)
    _resume_ends_as_if_never_stopped(crowd_folder, workdir, runs, caplog)


def test_a_checkpoint_save_failing_on_a_full_disk_ends_in_one_line_and_a_rerun_resumes(
        tmp_path, crowd_folder, one_device, capsys, caplog, runs):
    workdir = _two_steps(runs, str(tmp_path / "run"))
    save = ocp.CheckpointManager.save

    def full(manager, step, *args, **kwargs):
        if step == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(manager.directory))
        return save(manager, step, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ocp.CheckpointManager, "save", full)
        exits_with_one_line(capsys, lambda: train_cli.main(tiny_run(crowd_folder, workdir, 4)),
                            f"the disk holding the run directory {workdir!r} is full",
                            "resumes from the last complete checkpoint, step 2")
    _files_are_whole(workdir, 2)
    _resume_ends_as_if_never_stopped(crowd_folder, workdir, runs, caplog)


# ------------------------------------------------------------ a real small filesystem


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs (root only), unmounted after the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder, leave_bytes):
    """A filler file that leaves `leave_bytes` free on `folder`'s filesystem."""
    filler = os.path.join(folder, "filler")
    with open(filler, "wb") as f:
        f.write(b"\0" * max(shutil.disk_usage(folder).free - leave_bytes, 0))
    return filler


@pytest.mark.parametrize("orbax_finds_out", [False, True],
                         ids=["checked-before-the-save", "orbax-fails-part-way"])
def test_a_real_full_disk_ends_in_one_line_and_a_rerun_resumes_after_space_is_freed(
        small_disk, crowd_folder, one_device, capsys, caplog, runs, orbax_finds_out):
    workdir = _two_steps(runs, str(small_disk / "run"))
    filler = _fill(small_disk, 256 * 1024)  # room for metrics and pictures, not a checkpoint
    with pytest.MonkeyPatch.context() as patch:
        if orbax_finds_out:  # as if the disk filled between rankjax's check and orbax's write
            patch.setattr(checkpoints, "_check_room", lambda *args: None)
        exits_with_one_line(capsys, lambda: train_cli.main(tiny_run(crowd_folder, workdir, 4)),
                            f"the disk holding the run directory {workdir!r} is full",
                            "resumes from the last complete checkpoint, step 2")
    _files_are_whole(workdir, 2)
    os.remove(filler)
    _resume_ends_as_if_never_stopped(crowd_folder, workdir, runs, caplog)
    # orbax's half-written checkpoint was deleted on resume
    assert not [name for name in os.listdir(os.path.join(workdir, "best"))
                + os.listdir(os.path.join(workdir, "checkpoints")) if "tmp" in name]
