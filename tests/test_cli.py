"""The command as a whole: a reader that leaves early, extra arguments, and the package's
documented submodules after a plain `import steepest` (in a fresh interpreter)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from steepest.cli import EXIT_BROKEN_PIPE, main


def test_a_reader_that_leaves_early_ends_the_command_quietly(monkeypatch, capfd):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before a line is written: `| head -0`
    with open(write, "w") as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        assert main(["data", "list"]) == EXIT_BROKEN_PIPE == 141
    assert capfd.readouterr().err == ""


def test_data_list_refuses_a_name(capsys):
    assert main(["data", "list", "iris"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "steepest: error: steepest data list takes no NAME (got 'iris')\n"


def test_documented_submodules_come_with_a_plain_import_and_only_when_used():
    script = """
import sys
import steepest
print("steepest.playground" in sys.modules, "optuna" in sys.modules)
print(len(steepest.playground.run_playground("beale", ["sgd", "adam"], steps=2)))
print(steepest.gradcheck.__name__, steepest.report.__name__, "optuna" in sys.modules)
print(steepest.errors.UserError.__name__, "errors" in dir(steepest), "Any" in dir(steepest))
try:
    steepest.no_such_module
except AttributeError as error:
    print(error)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines() == [
        "False False",
        "2",
        "steepest.gradcheck steepest.report True",
        "UserError True False",
        "module 'steepest' has no attribute 'no_such_module'",
    ]


def test_ctrl_c_in_the_first_second_is_one_line(tmp_path):
    """The command imports torch (a second or more) inside its interrupt handling, so
    Ctrl-C while it starts up ends as Ctrl-C later does: one line, status 130."""
    import signal
    import time

    experiment = tmp_path / "exp.toml"
    experiment.write_text(f'[data]\nname = "digits"\n[train]\nepochs = 500\nout = "{tmp_path}"\n')
    command = [sys.executable, "-m", "steepest.cli", "train", str(experiment), "--quiet"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        maps = Path(f"/proc/{process.pid}/maps")
        deadline = time.monotonic() + 30
        while "libtorch" not in maps.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)  # until torch's import is under way (inside the handling)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.startswith("steepest: interrupted") and err.count("\n") == 1


def test_the_command_module_imports_no_torch():
    script = "import sys, steepest.cli; print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout == "False\n"


def test_a_usage_mistake_is_one_line_naming_the_help(capsys):
    assert main(["train", "x.toml", "--population", "x"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "steepest: error: argument --population: 'x': expected a number or auto "
        "(see steepest train --help)\n"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'# caf\xe9\n[data]\nname = "iris"\n', "not UTF-8 text (TOML files are UTF-8)"),
        (b"data = 5\n", "data = 5: expected a [data] table"),
        (b'[data]\nname = "iris"\n[[train]]\nlr = 0.1\n', "expected a [train] table"),
        (None, "a folder, not an experiment file"),
    ],
)
def test_an_experiment_file_that_cannot_be_read_is_one_line(tmp_path, capsys, content, message):
    path = tmp_path / "exp.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    assert main(["train", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_an_allocation_that_fails_is_one_line(tmp_path, capsys, monkeypatch):
    from steepest import training

    def fail(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
            "allocate memory: you tried to allocate 12800000000 bytes. Error code 12"
        )

    monkeypatch.setattr(training, "load_for", fail)
    path = tmp_path / "exp.toml"
    path.write_text('[data]\nname = "iris"\n')
    assert main(["train", str(path), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        "steepest: error: out of memory (11.9 GiB at once): a smaller network, batch_size "
        "or population (--population) needs less\n"
    )
