"""Every example in README.md and docs/**/*.md runs, and prints what the page shows.

The conventions a page's author relies on:

- Every ```python block runs. The blocks of one page run top to bottom in one namespace (a
  fresh ``__main__`` in one fresh interpreter per page, as in a notebook), with a fresh
  temporary directory as the working directory. A block that raises fails the test, unless the
  output shown for it starts with ``Traceback (most recent call last):``.
- A ```python block with a title (```python title="sweep.py"```) is a file: it is written to
  that path in the temporary directory instead of being run, for a ```console block to run it.
- A ```text block is the output of the nearest ```python block before it, when no other fenced
  block lies between them (prose may): what the block prints on standard output, compared
  after stripping trailing whitespace and blank lines at either end.
- In a ```console block, each line starting with ``$ `` is a command, run with bash in the same
  temporary directory (in document order with the Python blocks; a line ending in ``\\``
  continues on the next; each command starts in that directory, so a ``cd`` does not last).
  The lines up to the next ``$ `` are what it prints, standard output and standard error
  together as a terminal shows them, compared the same way. A command must exit with status 0,
  unless output is shown for it (not only ``...``) and matches. ``python`` and ``stet`` are
  those of the test environment; ``PYTHONUNBUFFERED=1``, as in a terminal.
- In shown output, a line ``...`` stands for any run of lines (none included), and ``...``
  within a line for any text on that line. The temporary directory's path is shown as
  ``/home/me/sweep``.
- A block preceded by ``<!-- skip: reason -->`` is not run (keep these rare: code needing a
  cluster). Other fences (```bash, ```toml, ```csv...) are not run.
- A page whose code needs an optional module (:data:`OPTIONAL`) that is missing is skipped;
  a command of an optional program (:data:`OPTIONAL_TOOLS`) that is missing is left out.
- A page that mentions ``STET_POSTGRES_URL`` gets that variable: the URL of an empty schema on
  the tests' PostgreSQL server (the ``postgres_schema`` fixture of tests/conftest.py).

One test per page, so a failure names the page, the line of the block and what differed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import stet
import stet.errors

REPO = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("_docs_driver.py")
PAGES = sorted(
    [REPO / "README.md", *(REPO / "docs").rglob("*.md")],
    key=lambda p: p.relative_to(REPO).as_posix(),
)
SHOWN_CWD = "/home/me/sweep"
CI = os.environ.get("CI") == "true"
TRACEBACK = "Traceback (most recent call last):"
BLOCK_TIMEOUT = 240.0
"""Seconds one block or command may take (a Ray or Dask example starts a cluster)."""

#: Modules some pages need that a minimal install may lack: the page skips without them
#: (unless CI=true, where the test extras are installed).
OPTIONAL = {"dask", "distributed", "joblib", "numpy", "pandas", "psycopg", "pyarrow", "ray"}
#: Programs that a machine may lack: a command of theirs that is not found is left out, the
#: rest of the page is checked, and the test is then skipped, naming them.
OPTIONAL_TOOLS = {"jq", "psql", "sqlite3"}

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
SKIP = re.compile(r"^\s*<!--\s*skip:\s*(?P<reason>.+?)\s*-->\s*$")
TITLE = re.compile(r"""\btitle=(?:"([^"]*)"|'([^']*)'|(\S+))""")


@dataclass
class Block:
    """One fenced block of a page."""

    lang: str
    title: str | None
    code: str
    line: int  # 1-based line of the opening fence
    skip: str | None  # the reason given in <!-- skip: ... -->


def blocks(text: str) -> Iterator[Block]:
    """Yield the fenced blocks of a Markdown text, indented ones included (admonitions, tabs)."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"].strip()
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = i + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [
            ln[len(indent) :] if ln.startswith(indent) else ln.lstrip() for ln in lines[i + 1 : end]
        ]
        before = i - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        skip = SKIP.match(lines[before]) if before >= 0 else None
        title = TITLE.search(info)
        yield Block(
            lang=info.split()[0].lower() if info else "",
            title=next(g for g in title.groups() if g is not None) if title else None,
            code="\n".join(body) + "\n",
            line=i + 1,
            skip=skip["reason"] if skip else None,
        )
        i = end + 1


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def matches(expected: str, actual: str) -> bool:
    """Return whether output matches what a page shows, ``...`` being a wildcard."""
    pattern = []
    for line in _lines(expected):
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(".*?".join(map(re.escape, line.split("..."))).replace(".*?", "[^\n]*?"))
            pattern.append(r"\n")
    text = "".join(line + "\n" for line in _lines(actual))
    return re.fullmatch("".join(pattern), text) is not None


def _only_wildcards(expected: str) -> bool:
    return all(line.strip() == "..." for line in _lines(expected))


def commands(block: Block) -> Iterator[tuple[str, str]]:
    """Yield each command of a console block with the output shown for it."""
    command: list[str] | None = None
    output: list[str] = []
    continued = False
    for line in block.code.splitlines():
        if continued and command is not None:
            command.append(line)
        elif line.startswith("$ "):
            if command is not None:
                yield "\n".join(command), "\n".join(output)
            command, output = [line[2:]], []
        elif command is not None:
            output.append(line)
        continued = line.rstrip().endswith("\\") and command is not None and not output
    if command is not None:
        yield "\n".join(command), "\n".join(output)


class Page:
    """A page being run: its interpreter, its temporary directory, and its findings."""

    def __init__(self, path: Path, cwd: Path, env: dict[str, str]) -> None:
        self.name = path.relative_to(REPO).as_posix()
        self.cwd, self.env = cwd, env
        self.read_fd, write_fd = os.pipe()
        self.log = (cwd.parent / f"{cwd.name}-driver.log").open("w+")
        self.driver = subprocess.Popen(
            [sys.executable, str(DRIVER), str(write_fd)],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            pass_fds=(write_fd,),
            start_new_session=True,  # so that whatever the page starts can be ended with it
        )
        os.close(write_fd)
        self.pending = b""

    def python(self, block: Block) -> dict[str, str | None]:
        """Run a block in the page's interpreter; return its output and error."""
        assert self.driver.stdin is not None
        request = {"code": block.code, "filename": f"{self.name}:{block.line}"}
        self.driver.stdin.write(json.dumps(request) + "\n")
        self.driver.stdin.flush()
        while b"\n" not in self.pending:
            ready, _, _ = select.select([self.read_fd], [], [], BLOCK_TIMEOUT)
            chunk = os.read(self.read_fd, 1 << 16) if ready else b""
            if not chunk:
                self.log.seek(0)
                pytest.fail(
                    f"{self.name}:{block.line}: the block did not finish "
                    f"({'timed out' if not ready else 'the interpreter died'}):\n{self.log.read()}"
                )
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        result: dict[str, str | None] = json.loads(line)
        return result

    def shell(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run a console command with bash in the page's directory."""
        return subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # in the order written, as a terminal shows them
            text=True,
            timeout=BLOCK_TIMEOUT,
            check=False,
        )

    def shown(self, output: str) -> str:
        """Return output as the page shows it: the temporary directory as SHOWN_CWD."""
        return output.replace(str(self.cwd), SHOWN_CWD)

    def close(self) -> None:
        """End the page's interpreter and everything it started."""
        if self.driver.stdin is not None:
            self.driver.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.driver.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.driver.pid, 9)  # pool workers, clusters: anything the page left
        self.driver.wait()
        os.close(self.read_fd)
        self.log.close()


def _differs(where: str, what: str, expected: str, actual: str, stderr: str = "") -> str:
    message = f"{where}: {what} differs from the page.\n--- shown\n{expected}\n--- printed\n"
    message += actual
    if stderr.strip():
        message += f"\n--- standard error\n{stderr}"
    return message


def _missing_optional(error: str) -> str | None:
    found = re.search(r"ModuleNotFoundError: No module named '([\w.]+)'", error)
    if found and found[1].split(".")[0] in OPTIONAL and not CI:
        return found[1]
    return None


def run_page(path: Path, cwd: Path, env: dict[str, str]) -> None:
    """Run every example of a page in order; fail on the first that does not do as shown."""
    page = Page(path, cwd, env)
    missing_tools: list[str] = []
    try:
        found = list(blocks(path.read_text()))
        for i, block in enumerate(found):
            where = f"{page.name}:{block.line}"
            after = found[i + 1] if i + 1 < len(found) else None
            shown = after.code if after is not None and after.lang == "text" else None
            if block.skip is not None:
                continue
            if block.lang == "python" and block.title is not None:
                assert shown is None, f"{where}: a file block is not run; show a console block"
                target = cwd / block.title
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(block.code)
            elif block.lang == "python":
                result = page.python(block)
                printed, error = page.shown(str(result["stdout"])), result["error"]
                if error is not None:
                    missing = _missing_optional(error)
                    if missing:
                        pytest.skip(f"{where} needs {missing}, not installed")
                    if shown is None or _lines(shown)[:1] != [TRACEBACK]:
                        pytest.fail(f"{where}: the block raised\n{error}\n{result['stderr']}")
                    printed += page.shown(error)
                if shown is not None and not matches(shown, printed):
                    pytest.fail(
                        _differs(where, "the output", shown, printed, str(result["stderr"]))
                    )
            elif block.lang == "console":
                for command, output in commands(block):
                    done = page.shell(command)
                    tool = command.split()[0]
                    if done.returncode == 127 and tool in OPTIONAL_TOOLS:
                        missing_tools.append(f"{where}: `{tool}`")
                        continue  # the rest of the page is still checked
                    printed = page.shown(done.stdout)
                    checked = output.strip() and not _only_wildcards(output)
                    if done.returncode != 0 and not checked:
                        pytest.fail(
                            f"{where}: `{command}` exited with status {done.returncode}\n"
                            f"{done.stdout}"
                        )
                    if not matches(output, printed):
                        what = f"the output of `{command}`"
                        pytest.fail(_differs(where, what, output, printed))
    finally:
        page.close()
    if missing_tools:
        pytest.skip(f"all checked but these commands, not installed: {', '.join(missing_tools)}")


def _environment(path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)  # `python` and `stet` are this environment's
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"  # as in a terminal: lines printed before a kill are shown
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONSTARTUP", None)
    env.update({"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "100"})
    if "STET_POSTGRES_URL" in path.read_text():
        env["STET_POSTGRES_URL"] = str(request.getfixturevalue("postgres_schema"))
    return env


@pytest.mark.parametrize("path", PAGES, ids=[p.relative_to(REPO).as_posix() for p in PAGES])
def test_the_page_runs_as_shown(path: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Every Python block and console command of the page runs and prints what the page shows."""
    cwd = tmp_path / "sweep"
    cwd.mkdir()
    run_page(path, cwd, _environment(path, request))


# -- the harness itself ---------------------------------------------------------------------------


def test_wildcards_match_runs_of_lines_and_text_within_a_line() -> None:
    """``...`` alone matches any lines, within a line any text; the rest must be equal."""
    assert matches("a\n...\nd", "a\nb\nc\nd\n")
    assert matches("a\n...\nd", "a\nd")
    assert matches("[stet] Last run: ...", "[stet] Last run: 2026-11-28T01:21:31+00:00  ")
    assert not matches("a\n...\nd", "a\nb\nc")
    assert not matches("a b", "a  b")
    assert not matches("x...", "y1")


def test_blocks_are_found_with_their_language_title_line_and_skip() -> None:
    """A fence's language, title, first line and skip reason are read; indented fences too."""
    text = (
        "Intro\n\n```python title='s.py'\nprint(1)\n```\n\n<!-- skip: needs sbatch -->\n"
        "```console\n$ sbatch job.sh\n```\n\n!!! note\n    ```text\n    1\n    ```\n"
    )
    found = list(blocks(text))
    assert [(b.lang, b.title, b.line, b.skip) for b in found] == [
        ("python", "s.py", 3, None),
        ("console", None, 8, "needs sbatch"),
        ("text", None, 13, None),
    ]
    assert found[2].code == "1\n"


def test_console_commands_keep_their_output_and_continuations() -> None:
    """Each ``$`` line starts a command; a trailing backslash continues it on the next line."""
    block = Block("console", None, "$ a \\\n  --b\nout 1\nout 2\n$ c\n", 1, None)
    assert list(commands(block)) == [("a \\\n  --b", "out 1\nout 2"), ("c", "")]


# -- what the pages must contain ------------------------------------------------------------------


def test_every_public_name_is_in_the_reference() -> None:
    """Each name of ``stet.__all__`` and ``stet.errors.__all__`` has an entry in docs/reference."""
    reference = "".join(p.read_text() for p in (REPO / "docs" / "reference").glob("*.md"))
    documented = set(re.findall(r"^::: stet\.(?:errors\.)?(\w+)", reference, flags=re.M))
    assert sorted(set(stet.__all__) - documented) == []
    assert sorted(set(stet.errors.__all__) - documented) == []  # the errors not exported too


def test_every_page_is_in_the_nav() -> None:
    """mkdocs.yml lists every page of docs/, so none is built but unreachable."""
    config = (REPO / "mkdocs.yml").read_text()
    listed = set(re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w/.-]+\.md)\s*$", config, flags=re.M))
    pages = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")}
    assert sorted(pages - listed) == []


def test_the_readme_keeps_the_two_contributor_commands() -> None:
    """The README's first screen ends with the two commands every contributor runs."""
    readme = (REPO / "README.md").read_text()
    assert "python3 dev.py demo" in readme
    assert "python3 dev.py test" in readme


def test_the_changelog_names_the_version_the_package_reports() -> None:
    """CHANGELOG.md has a section for ``stet.__version__``: Unreleased for a .dev version."""
    version = stet.__version__
    release = re.match(r"\d+\.\d+\.\d+", version)
    assert release is not None, version
    changelog = (REPO / "CHANGELOG.md").read_text()
    if ".dev" in version:
        section = re.search(r"^## \[Unreleased\]\n(.*?)(?=^## |\Z)", changelog, re.M | re.S)
        assert section is not None
        assert version in section[1]
    else:
        assert re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d\d-\d\d$", changelog, re.M)
