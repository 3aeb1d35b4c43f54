"""File-system and OS errors of the commands: exit 2, one line naming the path, JSON with --json.

Every command that writes checks its output before the work starts, so these
cases fail within milliseconds and need no real input data (the inputs named
below do not exist: the output check comes first).

Unwritable outputs are simulated, not made with ``chmod``: the tests run as
root in CI, and root ignores permission bits, so a read-only folder would not
fail. ``os.access`` is patched to deny writing to one folder (the check that
:func:`sstrkit.core.atomic.prepare_output_dir` makes first), a path under
``/proc`` (which even root cannot create files in) is used, and a real
``chmod`` case runs only when the tests do not run as root. The second writer
is a real second process holding the lock, or a planted lock file naming this
(live) test process; a dead holder is a finished child process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sstrkit.cli.main import app
from sstrkit.core.atomic import (
    atomic_path,
    check_output_file,
    output_file_mode,
    prepare_output_dir,
    write_csv_atomic,
    write_text_atomic,
)
from sstrkit.core.lock import LOCK_NAME, output_lock, read_lock
from sstrkit.errors import (
    FileSystemError,
    FitError,
    InvalidInputError,
    OutputLockedError,
)

runner = CliRunner()

ERROR_KEYS = {"what", "expected", "actual", "fix", "type", "message", "exit_code"}


def invoke(args: list[str]) -> Result:
    return runner.invoke(app, args)


def stderr_lines(result: Result) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.strip()]


def assert_error(result: Result, *fragments: str, as_json: bool) -> dict[str, Any] | None:
    """Exit 2, one ``error:`` line on stderr naming every fragment; the JSON document."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = stderr_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Fix: " in lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    if not as_json:
        assert result.stdout == ""
        return None
    doc = json.loads(result.stdout)
    assert set(doc) == {"error"}
    err = doc["error"]
    assert set(err) >= ERROR_KEYS and err["exit_code"] == 2
    assert err["fix"] and err["message"] == lines[0].removeprefix("error: ")
    return dict(err)


def with_json(args: list[str], as_json: bool) -> list[str]:
    return [*args, "--json"] if as_json else args


@pytest.fixture
def deny_write(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make ``os.access`` report one folder as not writable (root ignores mode bits)."""
    denied: list[Path] = []
    real_access = os.access

    def fake_access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if mode & os.W_OK and any(Path(path).absolute() == d for d in denied):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", fake_access)
    return lambda folder: denied.append(folder.absolute())


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _plant_lock(out: Path, pid: int, *, host: str | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lock = out / LOCK_NAME
    record = {
        "pid": pid,
        "host": host or socket.gethostname(),
        "started": "2026-01-05T09:30:00+01:00",
        "started_unix": time.time() - 1.0,
        "command": "sstrkit run",
    }
    lock.write_text(json.dumps(record), encoding="utf-8")
    return lock


# ------------------------------------------------------------------ output is a file / parent


COMMANDS_INTO_FOLDER: list[tuple[str, Callable[[Path], list[str]]]] = [
    ("phantom make", lambda out: ["phantom", "make", str(out)]),
    ("run", lambda out: ["run", "no-such-study", "--out", str(out)]),
    ("demo", lambda out: ["demo", "--out", str(out)]),
    ("read", lambda out: ["read", "no-such-pet.nii.gz", "--out", str(out)]),
    ("dose voxel", lambda out: ["dose", "voxel", "no-such-study", "--out", str(out)]),
    ("study init", lambda out: ["study", "init", "no-such-dicom", "--out", str(out)]),
]

COMMANDS_INTO_FILE: list[tuple[str, Callable[[Path], list[str]]]] = [
    ("convert", lambda out: ["convert", "no-such-dicom", str(out / "pet.nii.gz")]),
    (
        "dose kernel",
        lambda out: ["dose", "kernel", "Lu-177", "--voxel-mm", "4", "--out", str(out / "k.npy")],
    ),
    ("plan --csv", lambda out: ["plan", "no-such-case.yaml", "--csv", str(out / "plan.csv")]),
    (
        "dose organs --csv",
        lambda out: ["dose", "organs", "no-such-case.yaml", "--csv", str(out / "d.csv")],
    ),
    (
        "preclinical correlate --report",
        lambda out: [
            "preclinical",
            "correlate",
            "no-such.csv",
            "--x",
            "a",
            "--y",
            "b",
            "--report",
            str(out / "r.html"),
        ],
    ),
    (
        "outcomes swimmer --out",
        lambda out: [
            "outcomes",
            "swimmer",
            "no.csv",
            "--duration-col",
            "m",
            "--out",
            str(out / "s.png"),
        ],
    ),
]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    ("name", "args"), COMMANDS_INTO_FOLDER, ids=[c[0] for c in COMMANDS_INTO_FOLDER]
)
def test_output_folder_is_a_file(
    tmp_path: Path, name: str, args: Callable[[Path], list[str]], as_json: bool
) -> None:
    out = tmp_path / "results"
    out.write_text("not a folder", encoding="utf-8")
    err = assert_error(invoke(with_json(args(out), as_json)), str(out), "a file", as_json=as_json)
    assert out.read_text(encoding="utf-8") == "not a folder"
    if err is not None:
        assert err["type"] == "FileSystemError" and err["path"] == str(out)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    ("name", "args"),
    COMMANDS_INTO_FOLDER + COMMANDS_INTO_FILE,
    ids=[c[0] for c in COMMANDS_INTO_FOLDER + COMMANDS_INTO_FILE],
)
def test_output_parent_is_a_file(
    tmp_path: Path, name: str, args: Callable[[Path], list[str]], as_json: bool
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x", encoding="utf-8")
    out = blocker / "sub"
    result = invoke(with_json(args(out), as_json))
    assert_error(result, str(blocker), "not a folder", as_json=as_json)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("convert", lambda d: ["convert", "no-such-dicom", str(d)]),
        ("dose kernel", lambda d: ["dose", "kernel", "Lu-177", "--voxel-mm", "4", "--out", str(d)]),
        ("plan --csv", lambda d: ["plan", "no-such-case.yaml", "--csv", str(d)]),
    ],
    ids=["convert", "dose kernel", "plan --csv"],
)
def test_output_file_is_an_existing_folder(
    tmp_path: Path, name: str, args: Callable[[Path], list[str]], as_json: bool
) -> None:
    target = tmp_path / "existing"
    target.mkdir()
    err = assert_error(
        invoke(with_json(args(target), as_json)), str(target), "existing folder", as_json=as_json
    )
    if err is not None:
        assert str(target) in err["fix"]  # "give a file name, e.g. existing/…"


# ------------------------------------------------------------------ unwritable outputs


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    ("name", "args"),
    COMMANDS_INTO_FOLDER + COMMANDS_INTO_FILE,
    ids=[c[0] for c in COMMANDS_INTO_FOLDER + COMMANDS_INTO_FILE],
)
def test_read_only_output_folder(
    tmp_path: Path,
    deny_write: Callable[[Path], None],
    name: str,
    args: Callable[[Path], list[str]],
    as_json: bool,
) -> None:
    """A folder the user may not write to (simulated: root ignores mode bits)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    deny_write(ro)
    argv = args(ro)
    err = assert_error(invoke(with_json(argv, as_json)), str(ro), "write", as_json=as_json)
    assert list(ro.iterdir()) == []  # nothing was started
    if err is not None:
        assert err["path"] == str(ro) and "chmod" in err["fix"]


def test_read_only_output_folder_new_subfolder(
    tmp_path: Path, deny_write: Callable[[Path], None]
) -> None:
    """``--out ro/new``: the folder cannot be created in ``ro``."""
    ro = tmp_path / "ro"
    ro.mkdir()
    deny_write(ro)
    result = invoke(["phantom", "make", str(ro / "new"), "--json"])
    assert_error(result, str(ro), as_json=True)
    assert not (ro / "new").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_pseudo_file_system() -> None:
    """Even root cannot create files in /proc: a real, not simulated, failure."""
    result = invoke(
        ["dose", "kernel", "Lu-177", "--voxel-mm", "4", "--out", "/proc/sstrkit-test/k.npy"]
    )
    assert_error(result, "/proc", as_json=False)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores mode bits")
def test_read_only_output_folder_for_real(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert_error(invoke(["read", "pet.nii.gz", "--out", str(ro)]), str(ro), as_json=False)
    finally:
        ro.chmod(0o755)


# ------------------------------------------------------------------ last resort: any OSError


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_uncaught_os_error_becomes_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    """An OSError the library does not type (here: reading the case file) is still one line."""
    import sstrkit.therapy.case as case_module

    case = tmp_path / "case.yaml"

    def denied(path: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(case_module, "load_case", denied)
    err = assert_error(
        invoke(with_json(["plan", str(case)], as_json)), str(case), "permission", as_json=as_json
    )
    if err is not None:
        assert err["type"] == "FileSystemError" and err["path"] == str(case)
        assert "PermissionError" in err["actual"]


def test_disk_full_during_write_is_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(28, "No space left on device", str(tmp_path / "x.txt"))

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(FileSystemError, match="free disk space") as info:
        write_text_atomic(tmp_path / "x.txt", "data")
    assert isinstance(info.value, OSError) and info.value.errno == 28
    assert list(tmp_path.iterdir()) == []  # the temporary file is removed


# ------------------------------------------------------------------ every error has a fix


def test_errors_without_fix_get_a_default() -> None:
    assert InvalidInputError("--sex", expected="F or M", actual="X").fix == (
        "correct --sex: use F or M"
    )
    assert InvalidInputError("--roi").fix == "correct --roi"
    assert "Fix: " in str(FitError("kidney curve", actual="singular matrix"))
    given = InvalidInputError("x", expected="y", actual="z", fix="do this")
    assert given.fix == "do this" and str(given).endswith("Fix: do this")


def test_invalid_input_with_json_prints_error_document() -> None:
    err = assert_error(
        invoke(["phantom", "make", "o", "--sex", "X", "--json"]), "--sex", as_json=True
    )
    assert err is not None
    assert (err["what"], err["expected"], err["actual"]) == ("--sex", "F or M", "X")
    assert err["type"] == "InvalidInputError"


def test_long_error_stays_one_line(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8)
    deep.parent.mkdir(parents=True)
    deep.write_text("x", encoding="utf-8")
    assert_error(invoke(["read", "pet.nii.gz", "--out", str(deep)]), str(deep), as_json=False)


# ------------------------------------------------------------------ lock: one writer per OUT


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize(
    "args",
    [
        lambda out: ["run", "no-such-study", "--out", str(out)],
        lambda out: ["demo", "--out", str(out)],
        lambda out: ["phantom", "make", str(out)],
    ],
    ids=["run", "demo", "phantom make"],
)
def test_lock_held_by_live_process(
    tmp_path: Path, args: Callable[[Path], list[str]], as_json: bool
) -> None:
    out = tmp_path / "OUT"
    lock = _plant_lock(out, os.getpid())  # this test process: alive
    err = assert_error(
        invoke(with_json(args(out), as_json)),
        f"pid {os.getpid()}",
        socket.gethostname(),
        "2026-01-05T09:30:00+01:00",
        str(lock),
        as_json=as_json,
    )
    assert lock.exists() and read_lock(lock) is not None  # the holder's lock is left alone
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    if err is not None:
        assert err["type"] == "OutputLockedError" and err["holder"]["pid"] == os.getpid()


def test_second_writer_process_is_refused(tmp_path: Path) -> None:
    """A real second process holds the lock; the CLI exits 2 at once, naming it."""
    out = tmp_path / "OUT"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from sstrkit.core.lock import output_lock\n"
            f"with output_lock({str(out)!r}, command='sstrkit demo'):\n"
            "    print('locked', flush=True)\n"
            "    sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        t0 = time.perf_counter()
        result = invoke(["run", "no-such-study", "--out", str(out), "--json"])
        assert time.perf_counter() - t0 < 5.0
        err = assert_error(result, f"pid {holder.pid}", "sstrkit demo", as_json=True)
        assert err is not None and err["holder"]["pid"] == holder.pid
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    assert holder.returncode == 0 and not (out / LOCK_NAME).exists()  # released at exit


def test_dead_holder_is_taken_over_with_warning(tmp_path: Path) -> None:
    out = tmp_path / "OUT"
    dead = _dead_pid()
    _plant_lock(out, dead)
    result = invoke(["run", "no-such-study", "--out", str(out)])
    lines = stderr_lines(result)
    # the lock is taken over (warning), then the run fails on its missing study
    assert lines[0].startswith("warning: took over the lock") and f"pid {dead}" in lines[0]
    assert result.exit_code == 2 and lines[1].startswith("error: study folder")
    assert not (out / LOCK_NAME).exists()  # removed at exit, even after an error


def test_lock_from_another_host_is_respected(tmp_path: Path) -> None:
    out = tmp_path / "OUT"
    _plant_lock(out, _dead_pid(), host="other-host.invalid")
    assert_error(invoke(["demo", "--out", str(out)]), "other-host.invalid", as_json=False)


def test_lock_library(tmp_path: Path) -> None:
    warnings: list[str] = []
    _plant_lock(tmp_path, _dead_pid())
    with output_lock(tmp_path, command="test", warn=warnings.append) as lock:
        holder = read_lock(lock)
        assert holder is not None and holder["pid"] == os.getpid()
        assert holder["command"] == "test"
        assert len(warnings) == 1 and "no longer running" in warnings[0]
        with (
            pytest.raises(OutputLockedError, match=f"pid {os.getpid()}"),
            output_lock(tmp_path, command="second"),
        ):
            pass
        assert read_lock(lock) == holder  # the refused writer did not touch it
    assert not lock.exists()
    with pytest.raises(RuntimeError), output_lock(tmp_path):
        raise RuntimeError("boom")
    assert not (tmp_path / LOCK_NAME).exists()  # released on errors too


# ------------------------------------------------------------------ helpers and umask


def test_prepare_and_check_helpers(tmp_path: Path) -> None:
    made = prepare_output_dir(tmp_path / "a" / "b", "--out")
    assert made.is_dir() and [p.name for p in made.iterdir()] == []  # no probe left behind
    assert check_output_file(tmp_path / "c" / "x.csv", "--csv").parent.is_dir()
    with pytest.raises(InvalidInputError, match="mkdir -p"):
        check_output_file(tmp_path / "missing" / "x.png", "--plot", make_parents=False)


def test_files_follow_the_umask(tmp_path: Path, umask_022: None) -> None:
    assert output_file_mode() == 0o644
    text = write_text_atomic(tmp_path / "a.txt", "x")
    table = write_csv_atomic(tmp_path / "t.csv", ["a"], [[1]])
    with atomic_path(tmp_path / "k.npy") as tmp:
        tmp.write_bytes(b"\x93NUMPY")
    for path in (text, table, tmp_path / "k.npy"):
        assert path.stat().st_mode & 0o777 == 0o644, path
    os.umask(0o077)
    assert write_text_atomic(tmp_path / "b.txt", "x").stat().st_mode & 0o777 == 0o600


def test_cli_output_follows_the_umask(tmp_path: Path, umask_022: None) -> None:
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("id,months\np1,3\np2,7.5\n", encoding="utf-8")
    plot = tmp_path / "swimmer.png"
    result = invoke(
        ["outcomes", "swimmer", str(cohort), "--duration-col", "months", "--out", str(plot)]
    )
    assert result.exit_code == 0, result.output
    assert plot.stat().st_mode & 0o777 == 0o644
