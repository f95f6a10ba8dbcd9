"""The command as a whole: help, exit codes, one-line errors, colour, pipes, python -m stet."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pexpect
import pytest

from stet._cli import build_parser, main
from tests.cli._support import REPO, cli, environment, run_stet, sweep

COMMANDS = ["status", "ls", "reset", "export", "import", "grid"]
DOCS = REPO / "docs" / "cli.md"
ANSI = "\x1b["


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_is_registered() -> None:
    """The parser has exactly the six commands of the issue."""
    assert sorted(_subparsers()) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_ends_with_an_example(command: str, capsys) -> None:
    """`stet COMMAND --help` exits 0 and shows an example that runs that very command."""
    code, out, _ = cli(capsys, command, "--help")
    assert code == 0
    assert re.search(r"^examples?:$", out, re.M)
    assert f"$ stet {command} " in out


def test_help_of_the_command_lists_the_commands(capsys) -> None:
    """`stet --help` names every command and exits 0; `stet` alone prints usage, exit code 2."""
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", out, re.M), command
    code, _, err = cli(capsys)
    assert code == 2
    assert "usage: stet" in err


def test_version(capsys) -> None:
    """`stet --version` prints the package's version."""
    import stet

    code, out, _ = cli(capsys, "--version")
    assert code == 0
    assert out.strip() == f"stet {stet.__version__}"


def test_a_usage_error_exits_with_2(capsys) -> None:
    """An unknown option is argparse's usage error: exit code 2, usage on standard error."""
    code, out, err = cli(capsys, "ls", "runs.csv", "--bogus")
    assert code == 2
    assert out == ""
    assert "usage: stet ls" in err
    assert "unrecognized arguments: --bogus" in err


def test_a_malformed_where_is_a_usage_error(capsys) -> None:
    """--where without "=" is refused by the parser, saying what form it wants."""
    code, _, err = cli(capsys, "ls", "runs.csv", "--where", "alpha")
    assert code == 2
    assert "expected NAME=VALUE" in err


def test_a_missing_store_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    """A library error (FileNotFoundError) becomes one line `stet: error: ...`, no traceback."""
    done = run_stet("ls", "nowhere.csv", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "stet: error: Store not found: nowhere.csv\n"


def test_an_unknown_kind_of_store_is_one_line(tmp_path: Path) -> None:
    """A StetError (UnknownStoreError) from the library becomes one line and exit code 1."""
    done = run_stet("status", "runs.txt", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("stet: error: stet cannot tell which store to use")
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_a_foreign_file_is_one_line(tmp_path: Path) -> None:
    """A store file stet did not write gives the library's message on one line, exit code 1."""
    (tmp_path / "runs.sqlite").write_text("not a database at all\n" * 10)
    done = run_stet("ls", "runs.sqlite", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("stet: error: ")
    assert done.stderr.count("\n") == 1


def test_python_dash_m_stet_is_the_command(tmp_path: Path) -> None:
    """`python -m stet` runs the same command, named `stet` in its usage."""
    sweep(tmp_path / "runs.csv", [(0.1, 0)])
    done = run_stet("ls", "runs.csv", "--columns", "alpha,seed", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["alpha", "seed", "0.1", "0"]
    assert run_stet("--help", cwd=tmp_path).stdout.startswith("usage: stet ")


def test_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    """`stet ls STORE | head -1` on a long listing ends quietly: no BrokenPipe traceback."""
    sweep(tmp_path / "runs.jsonl", [(a / 10, s) for a in range(40) for s in range(50)])
    command = (
        f"{sys.executable} -m stet ls runs.jsonl --format csv | head -1; echo ${{PIPESTATUS[0]}}"
    )
    done = pytest.importorskip("subprocess").run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("alpha,seed,loss,")
    assert lines[1] == "0"  # the exit code of stet
    assert done.stderr == ""


def _spawn(args: list[str], cwd: Path, **env: str) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable,
        ["-m", "stet", *args],
        cwd=str(cwd),
        env=environment(**env),
        encoding="utf-8",
        timeout=60,
    )


def _through_pty(args: list[str], cwd: Path, **env: str) -> str:
    child = _spawn(args, cwd, **env)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before)


def test_colour_on_a_terminal_not_through_a_pipe(tmp_path: Path) -> None:
    """On a terminal the output has ANSI colours; through a pipe, none."""
    sweep(tmp_path / "runs.csv", [(0.1, 0), (0.1, 1)], fail=[(0.1, 1)])
    for args in (
        ["ls", "runs.csv"],
        ["status", "runs.csv"],
        ["grid", "runs.csv", "--rows", "alpha", "--cols", "seed"],
    ):
        assert ANSI in _through_pty(args, tmp_path), args
        piped = run_stet(*args, cwd=tmp_path)
        assert piped.returncode == 0
        assert ANSI not in piped.stdout, args


def test_no_color_is_honoured_on_a_terminal(tmp_path: Path) -> None:
    """NO_COLOR (any non-empty value) turns colour off even on a terminal."""
    sweep(tmp_path / "runs.csv", [(0.1, 0)])
    shown = _through_pty(["status", "runs.csv"], tmp_path, NO_COLOR="1")
    assert ANSI not in shown
    assert "train" in shown


def test_color_options_override_the_guess(tmp_path: Path) -> None:
    """--color colours even through a pipe; --no-color leaves a terminal plain."""
    sweep(tmp_path / "runs.csv", [(0.1, 0)])
    forced = run_stet(
        "grid", "runs.csv", "--rows", "alpha", "--cols", "seed", "--color", cwd=tmp_path
    )
    assert "\x1b[32m#\x1b[0m" in forced.stdout
    assert ANSI not in _through_pty(["ls", "runs.csv", "--no-color"], tmp_path)


def test_main_returns_instead_of_exiting(tmp_path: Path, capsys) -> None:
    """main(argv) returns the exit code for tests and embedders, even for --help."""
    assert main(["--help"]) == 0
    assert main(["ls", str(tmp_path / "none.csv")]) == 1
    assert "stet: error: Store not found" in capsys.readouterr().err


# -- the reference page ---------------------------------------------------------------------


def _sections() -> dict[str, str]:
    text = DOCS.read_text()
    parts = re.split(r"^## `stet (\w+)`$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_command_has_a_section_with_an_example_in_the_docs() -> None:
    """docs/cli.md has a section per command, each running that command in a console block."""
    sections = _sections()
    assert sorted(sections) == sorted(COMMANDS)
    for command, body in sections.items():
        assert f"```console\n$ stet {command} " in body or f"\n$ stet {command} " in body, command


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_in_its_section_of_the_docs(command: str) -> None:
    """Each option of a command appears in that command's section of docs/cli.md."""
    body = _sections()[command]
    parser = _subparsers()[command]
    options = [s for a in parser._actions for s in a.option_strings if s not in ("-h", "--help")]
    assert options, command
    missing = [o for o in options if f"`{o}" not in body]
    assert missing == []


def test_the_library_never_imports_the_command() -> None:
    """import stet (and using a store) loads no module of the CLI, nor argparse."""
    from tests.conftest import run_python

    done = run_python(
        """
        import sys, tempfile, os
        import stet
        os.chdir(tempfile.mkdtemp())
        stet.once(lambda x: x)(1)
        stet.records("_stet_store.csv")
        print(sorted(m for m in sys.modules if m.startswith("stet._cli") or m == "argparse"))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
