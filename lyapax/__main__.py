"""``python -m lyapax demo`` (same as the ``lyapax`` console script)."""

from .cli import main

raise SystemExit(main())
