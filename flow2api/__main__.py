"""``python -m flow2api`` is the same as the ``flow2api`` console script."""

from flow2api.cli import main

raise SystemExit(main())
