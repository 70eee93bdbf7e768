"""``python -m bench``: the benchmark's command-line entry point."""

from bench.run import main

raise SystemExit(main())
