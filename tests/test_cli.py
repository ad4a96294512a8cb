"""The vtl command line."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from visualizer import cli


def test_layers_json(capsys):
    assert cli.main(["layers", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 57
    assert records[0]["id"] == "Conv2d_1a_7x7"
    assert sum(r["channels"] for r in records) == 7280


def test_layers_table_in_paper_order(capsys):
    assert cli.main(["layers", "--order", "paper"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[1] == "Conv2d_2b_1x1"
    assert lines[-1] == "57 layers, 7280 channels (paper order)"


def _environment(**values: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "VTL_DEBUG")}
    return environment | values


def test_tensorflow_start_up_lines_are_not_printed():
    """`vtl plan` imports TensorFlow; none of its start-up lines (absl's banner, oneDNN's notice) show."""
    result = subprocess.run(
        [sys.executable, "-m", "visualizer.cli", "plan", "--config", "configs/demo.toml"],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("plan configs/demo.toml")


def test_help_and_layers_import_no_tensorflow():
    code = (
        "import sys, contextlib, io\n"
        "from visualizer import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli.main(['layers'])\n"
        "    with contextlib.suppress(SystemExit):\n"
        "        cli.main(['--help'])\n"
        "print(sorted({'keras', 'tensorflow'} & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_environment(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (result.stdout.strip(), result.stderr) == ("[]", "")


NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796422037.043280    3872 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1796422037.100000    3872 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.\n"
    "W0000 00:00:1796422037.2    3872 loader.cc:1] a warning\n"
    "E0000 00:00:1796422037.3    3872 loader.cc:2] an error\n"
    "a line of the program's own\n"
)


@pytest.mark.parametrize(
    "level, kept",
    [
        (0, NOISE),
        (1, "".join(NOISE.splitlines(keepends=True)[4:])),
        (2, "".join(NOISE.splitlines(keepends=True)[5:])),
        (3, "a line of the program's own\n"),
    ],
)
def test_start_up_lines_below_the_log_level_are_dropped(level, kept):
    from visualizer import _kept_lines

    assert _kept_lines(NOISE, level) == kept


def test_the_first_tensorflow_import_is_filtered_and_its_errors_kept(tmp_path):
    """A stand-in `tensorflow` package prints like TensorFlow's libraries, from C (file descriptor 2)."""
    package = tmp_path / "tensorflow"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import os, sys\n"
        f"os.write(2, {NOISE.encode()!r})\n"
        "print('a Python warning', file=sys.stderr)\n"
        "if os.environ.get('FAIL'):\n"
        "    raise ImportError('the stand-in failed')\n"
        "VALUE = 1\n"
    )
    code = (
        "import os, sys, visualizer\n"
        "try:\n"
        "    import tensorflow\n"
        "except ImportError as error:\n"
        "    print('caught:', error, file=sys.stderr)\n"
        "os.write(2, b'after\\n')\n"
        "import importlib; importlib.reload(tensorflow) if 'tensorflow' in sys.modules else None\n"
    )
    environment = _environment(PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}", TF_CPP_MIN_LOG_LEVEL="3")
    run = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    # Filtered once; a second execution (the reload) is TensorFlow's own business.
    assert run.stderr == f"a line of the program's own\na Python warning\nafter\n{NOISE}a Python warning\n"
    failing = subprocess.run(
        [sys.executable, "-c", code], env=environment | {"FAIL": "1"}, capture_output=True, text=True
    )
    assert (
        failing.stderr
        == "a line of the program's own\na Python warning\ncaught: the stand-in failed\nafter\n"
    )
