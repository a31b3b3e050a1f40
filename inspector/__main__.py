"""`python -m inspector`: the same entry point as the `inspector` console script."""

from inspector.cli import main

raise SystemExit(main())
