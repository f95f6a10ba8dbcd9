"""Run the Python blocks of one Markdown page, in order, in one namespace (used by test_docs.py).

    python tests/_docs_driver.py RESULT_FD

Reads one JSON request per line on standard input, ``{"code": ..., "filename": ...}``, runs the
code in a fresh ``__main__`` module shared by every block of the page (as a notebook would), and
writes one JSON line to the file descriptor RESULT_FD: ``{"stdout": ..., "error": ...}``, where
``stdout`` is everything written to file descriptor 1 while the block ran (pool workers and
subprocesses included) and ``error`` the formatted traceback if the block raised, else None.
Standard error is captured the same way and returned as ``stderr``, for failure messages.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
import types


def _run(code: str, filename: str, namespace: dict[str, object]) -> str | None:
    try:
        exec(compile(code, filename, "exec"), namespace)
    except BaseException as error:  # SystemExit too: a block that exits is shown as failing
        frames = traceback.extract_tb(error.__traceback__)
        # Drop this driver's own frame, so a traceback starts at the page's code.
        shown = traceback.format_list([f for f in frames if f.filename != __file__])
        lines = ["Traceback (most recent call last):\n", *shown]
        lines += traceback.format_exception_only(type(error), error)
        return "".join(lines)
    return None


def main() -> None:
    requests = os.fdopen(os.dup(0), "r")
    results = os.fdopen(int(sys.argv[1]), "w")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the page's code sees no terminal and no requests
    sys.stdin = open(os.devnull)  # noqa: SIM115 - stays open for the life of the process
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    main_module = types.ModuleType("__main__")
    main_module.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = main_module  # so pickle finds the page's functions by name
    sys.path[0] = os.getcwd()  # as in a REPL: modules the page writes can be imported
    for line in requests:
        request = json.loads(line)
        captured = {}
        files = {fd: tempfile.TemporaryFile() for fd in (1, 2)}  # noqa: SIM115 - closed below
        saved = {fd: os.dup(fd) for fd in files}
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, file in files.items():
            os.dup2(file.fileno(), fd)
        try:
            error = _run(request["code"], request["filename"], main_module.__dict__)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, file in files.items():
                os.dup2(saved[fd], fd)
                os.close(saved[fd])
                file.seek(0)
                captured[fd] = file.read().decode("utf-8", "replace")
                file.close()
        results.write(json.dumps({"stdout": captured[1], "stderr": captured[2], "error": error}))
        results.write("\n")
        results.flush()


if __name__ == "__main__":
    main()
