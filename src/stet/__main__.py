"""``python -m stet``: the ``stet`` command."""

from __future__ import annotations

from stet._cli import main

raise SystemExit(main())
