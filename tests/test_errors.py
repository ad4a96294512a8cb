"""One clean line for every expected error: `visualizer.errors` and `vtl`'s handler, end to end.

Each CLI case checks the exit status 2, exactly one line on stderr that starts
with ``vtl <command>: `` and no traceback. A read-only atlas and a full disk
are real (a tmpfs mounted read-only, or one too small) where this process may
mount one (root with CAP_SYS_ADMIN); they are also simulated everywhere by
making ``sqlite3.connect`` (or the catalog) raise what SQLite and the OS raise.
"""

from __future__ import annotations

import errno
import importlib
import os
import pickle
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from visualizer import cli
from visualizer.errors import EXPECTED_CLASSES, VtlError, describe, is_expected


def _environment() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "VTL_DEBUG"}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return environment


def _vtl(*args: str, **environment: str) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "visualizer.cli", *args],
        cwd=ROOT,
        env=_environment() | environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line(stderr: str, command: str) -> str:
    """The single line of `stderr`, checked: ``vtl <command>: ...`` and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"vtl {command}: "), stderr
    return lines[0]


def _in_process(capsys, *args: str) -> str:
    """Run ``vtl`` in this process; return its one stderr line after checking status 2."""
    capsys.readouterr()
    assert cli.main(list(args)) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out
    return _one_line(captured.err, " ".join(args[:2]) if args[0] == "catalog" else args[0])


# --- which errors are expected, and how they read ---------------------------------------------


def _project_classes() -> list[type]:
    classes = [getattr(importlib.import_module(module), name) for module, name in sorted(EXPECTED_CLASSES)]
    from visualizer.train.plan import MissingInputsError
    from vtl_gallery.catalog import UnsafeAtlasError

    class FutureError(VtlError):
        """A class added later, under the project's base."""

    return [*classes, UnsafeAtlasError, MissingInputsError, FutureError]


def test_the_project_errors_are_expected():
    """Each listed class exists (a renamed one would turn its errors into tracebacks) and counts."""
    for cls in _project_classes():
        assert isinstance(cls, type) and issubclass(cls, BaseException), cls
        error = cls.__new__(cls, "a message")  # without __init__: the constructors take different arguments
        assert is_expected(error), cls


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(errno.ENOENT, "No such file or directory", "x.toml"),
        PermissionError(errno.EACCES, "Permission denied", "atlas"),
        OSError(errno.ENOSPC, "No space left on device", "atlas/a.png"),
        OSError(errno.EROFS, "Read-only file system", "atlas/.vtl-lock"),
        sqlite3.OperationalError("attempt to write a readonly database"),
        sqlite3.OperationalError("database is locked"),
        sqlite3.OperationalError("database or disk is full"),
        sqlite3.DatabaseError("file is not a database"),
        pickle.UnpicklingError("invalid load key, 'x'."),
        EOFError("Ran out of input"),
        UnicodeDecodeError("utf-8", b"\x80", 0, 1, "invalid start byte"),
        zipfile.BadZipFile("File is not a zip file"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_user_and_environment_errors_are_expected(error):
    assert is_expected(error)
    assert "\n" not in describe(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        KeyError("a bug"),
        TypeError("a bug"),
        ZeroDivisionError("a bug"),
        AssertionError("a bug"),
        RuntimeError("a bug"),
        sqlite3.IntegrityError("UNIQUE constraint failed"),
        sqlite3.ProgrammingError("Incorrect number of bindings supplied"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_bugs_are_not_expected(error):
    assert not is_expected(error)


def test_describe():
    assert describe(OSError(errno.ENOSPC, "No space left on device", "atlas/a.png")) == (
        "the disk is full: No space left on device (atlas/a.png)"
    )
    assert describe(FileNotFoundError(errno.ENOENT, "No such file or directory", "c.toml")) == (
        "No such file or directory (c.toml)"
    )
    renamed = OSError(errno.EXDEV, "Invalid cross-device link", "a", None, "b")
    assert describe(renamed) == "Invalid cross-device link (a -> b)"
    # A message that names its file already does not name it twice.
    named = FileNotFoundError("No StyleGAN2 weights at 'g.pkl'.")
    named.filename = "g.pkl"
    assert describe(named) == "No StyleGAN2 weights at 'g.pkl'."
    assert describe(sqlite3.OperationalError("attempt to write a readonly database"), "atlas/demo") == (
        "the atlas is read-only or not writable (atlas/demo) (sqlite: attempt to write a readonly database)"
    )
    assert describe(sqlite3.OperationalError("unable to open database file")).startswith(
        "cannot open the atlas catalog: the atlas is read-only, not writable or missing"
    )
    assert describe(sqlite3.OperationalError("database or disk is full")).startswith("the disk is full")
    assert "in use by another process" in describe(sqlite3.OperationalError("database is locked"))
    from visualizer.models.layers import UnknownLayerError

    assert describe(UnknownLayerError("mixed9z", [])).startswith("Unknown layer 'mixed9z'")
    assert describe(ValueError("two\n  lines")) == "two lines"


def test_the_errors_module_imports_nothing_heavy():
    code = (
        "import sys, visualizer.errors, visualizer.cli; "
        "print(sorted({'keras', 'tensorflow', 'numpy'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# --- the command line: generator pickles --------------------------------------------------------


class _Payload:
    """Pickles as a call of ``os.system``: what a malicious "generator" would hold."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


@pytest.fixture
def prior_inputs(tmp_path):
    """An evil pickle whose load would create `marker`, a garbage one, and a model file that is never read."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps((_Payload(f"touch {marker}"), None, None)))
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(bytes(range(256))[::-1] * 64)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(pickle.dumps((1, [2.0] * 100, 3), protocol=4)[:-20])
    model = tmp_path / "model.keras"
    model.write_bytes(b"never read: the generator fails first")
    return {"marker": marker, "evil": evil, "garbage": garbage, "truncated": truncated, "model": model}


def _prior_args(generator: Path, model: Path, out: Path) -> list[str]:
    return [
        "prior",
        "--generator",
        str(generator),
        "--model",
        str(model),
        "--layer",
        "x",
        "--channels",
        "0",
        "--out",
        str(out),
    ]


def test_a_malicious_generator_pickle_is_refused_in_one_line(prior_inputs, tmp_path):
    result = _vtl(*_prior_args(prior_inputs["evil"], prior_inputs["model"], tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr, "prior")
    assert f"Refusing to load {os.system.__module__}.system from {str(prior_inputs['evil'])!r}" in line
    assert not prior_inputs["marker"].exists()  # the command in the pickle did not run


def test_a_malicious_pickle_is_refused_by_ablate_too(prior_inputs, tmp_path, capsys):
    args = ["ablate", "--generator", str(prior_inputs["evil"]), "--model", str(prior_inputs["model"])]
    line = _in_process(capsys, *args, "--layer", "x", "--channel", "0", "--out", str(tmp_path / "o"))
    assert "Refusing to load" in line and "evil.pkl" in line
    assert not prior_inputs["marker"].exists()


@pytest.mark.parametrize("name", ["garbage", "truncated"])
def test_a_garbage_generator_file_is_one_line(prior_inputs, tmp_path, capsys, name):
    line = _in_process(capsys, *_prior_args(prior_inputs[name], prior_inputs["model"], tmp_path / "o"))
    assert f"{str(prior_inputs[name])!r} is not a StyleGAN2 release pickle" in line


# --- the command line: a read-only atlas, a full disk ----------------------------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs at a new folder: ``mount(name, size)``; skips where mounting is not allowed."""
    mounted: list[Path] = []

    def mount(name: str, size: str = "2m") -> Path:
        point = tmp_path / name
        point.mkdir()
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def _atlas(folder: Path) -> Path:
    from visualizer.atlas.catalog import Catalog

    Catalog(folder).close()
    return folder


def test_a_read_only_atlas_is_one_line(tmpfs):
    """A real read-only file system (a tmpfs remounted read-only): reading works, writing is one line."""
    atlas = _atlas(tmpfs("readonly") / "atlas")
    subprocess.run(["mount", "-o", "remount,ro", str(atlas.parent)], check=True)
    checked = _vtl("catalog", "check", "--atlas", str(atlas))
    assert checked.returncode == 0 and "0 missing" in checked.stdout, checked.stderr
    for args, command in [(["catalog", "rebuild"], "catalog rebuild")]:
        result = _vtl(*args, "--atlas", str(atlas))
        assert result.returncode == 2, result.stderr
        line = _one_line(result.stderr, command)
        assert "read-only" in line, line


def test_a_full_disk_is_one_line(tmpfs):
    """A real full disk: a tmpfs too small for the catalog."""
    atlas = tmpfs("full", size="40k") / "atlas"
    atlas.mkdir()
    result = _vtl("catalog", "rebuild", "--atlas", str(atlas))
    assert result.returncode == 2, result.stderr
    assert "the disk is full" in _one_line(result.stderr, "catalog rebuild")


def _failing_connect(message: str):
    def connect(*args, **kwargs):
        raise sqlite3.OperationalError(message)

    return connect


@pytest.mark.parametrize(
    "message, expected",
    [
        ("attempt to write a readonly database", "the atlas is read-only or not writable"),
        ("unable to open database file", "the atlas is read-only, not writable or missing"),
        ("database or disk is full", "the disk is full"),
        ("database is locked", "in use by another process"),
    ],
)
def test_sqlite_errors_of_the_atlas_are_one_line(tmp_path, monkeypatch, capsys, message, expected):
    """Simulated: `sqlite3.connect` raises what SQLite says on a read-only, full or busy disk."""
    atlas = _atlas(tmp_path / "atlas")
    monkeypatch.setattr(sqlite3, "connect", _failing_connect(message))
    for args in (["analyse"], ["catalog", "check"], ["catalog", "rebuild"]):  # rebuild removes the catalog
        line = _in_process(capsys, *args, "--atlas", str(atlas))
        assert expected in line and f"({atlas})" in line and message in line, line


def test_a_full_disk_os_error_is_one_line(tmp_path, monkeypatch, capsys):
    from visualizer.atlas import catalog

    def rebuild(atlas_dir):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(atlas_dir) / "catalog.sqlite"))

    monkeypatch.setattr(catalog, "rebuild", rebuild)
    line = _in_process(capsys, "catalog", "rebuild", "--atlas", str(tmp_path))
    assert (
        line == f"vtl catalog rebuild: the disk is full: No space left on device ({tmp_path}/catalog.sqlite)"
    )


# --- the command line: configs ---------------------------------------------------------------------


def test_a_missing_config_is_one_line(tmp_path, capsys):
    for command in ("plan", "render", "train"):
        line = _in_process(capsys, command, "--config", str(tmp_path / "none.toml"))
        assert f"{tmp_path / 'none.toml'}: no such config file" in line


@pytest.mark.parametrize("text", ["", "\n\n   \n", "# only a comment\n\n# and another\n"])
def test_an_empty_config_is_one_line(tmp_path, capsys, text):
    config = tmp_path / "configs" / "empty.toml"
    config.parent.mkdir()
    config.write_text(text)
    for command in ("plan", "train"):
        line = _in_process(capsys, command, "--config", str(config))
        assert f"{config}: the config file is empty" in line and "configs/demo.toml" in line
    assert not (tmp_path / "atlas").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "flag, value, key, least",
    [
        ("--steps", "0", "render.steps", 1),
        ("--steps", "-5", "render.steps", 1),
        ("--size", "-1", "render.size", 1),
    ],
)
def test_a_bad_size_or_steps_flag_is_one_line(capsys, flag, value, key, least):
    line = _in_process(capsys, "plan", "--config", str(ROOT / "configs" / "demo.toml"), flag, value)
    assert f"{flag}/{key}: must be at least {least}, received {value}" in line


# --- debugging, bugs and Ctrl-C ----------------------------------------------------------------------


def test_vtl_debug_shows_the_traceback_of_an_expected_error(prior_inputs, tmp_path, monkeypatch, capsys):
    from visualizer.prior.weights import UnsafePickleError

    monkeypatch.setenv("VTL_DEBUG", "1")
    with pytest.raises(UnsafePickleError, match="Refusing to load"):
        cli.main(_prior_args(prior_inputs["evil"], prior_inputs["model"], tmp_path / "o"))
    atlas = _atlas(tmp_path / "atlas")
    monkeypatch.setattr(sqlite3, "connect", _failing_connect("attempt to write a readonly database"))
    with pytest.raises(sqlite3.OperationalError):
        cli.main(["catalog", "check", "--atlas", str(atlas)])
    assert not prior_inputs["marker"].exists()


def test_vtl_debug_in_a_real_process(prior_inputs, tmp_path):
    result = _vtl(*_prior_args(prior_inputs["evil"], prior_inputs["model"], tmp_path / "o"), VTL_DEBUG="1")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "UnsafePickleError: Refusing to load" in result.stderr
    assert not prior_inputs["marker"].exists()


def test_a_bug_keeps_its_traceback(monkeypatch):
    def broken(args):
        return 1 / 0

    monkeypatch.setattr(cli, "_cmd_layers", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["layers"])

    def buggy_value(args):
        raise ValueError("a bug, not the user's")

    monkeypatch.setattr(cli, "_cmd_layers", buggy_value)
    with pytest.raises(ValueError, match="a bug"):
        cli.main(["layers"])


def test_a_bug_prints_a_traceback_in_a_real_process():
    code = (
        "import sys; from visualizer import cli\n"
        "cli._cmd_layers = lambda args: 1 / 0\n"
        "sys.exit(cli.main(['layers']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_environment(), capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ZeroDivisionError" in result.stderr


def test_ctrl_c_is_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_layers", interrupted)
    assert cli.main(["layers"]) == 130
    assert (
        _one_line(capsys.readouterr().err, "layers") == "vtl layers: interrupted; stopped before finishing."
    )
