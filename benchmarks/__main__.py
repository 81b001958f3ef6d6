"""``python -m benchmarks``: see benchmarks/_cli.py and docs/benchmarks.md.

``python -m benchmarks scaling ...`` runs the autoscaling benchmark (benchmarks/_scaling.py).
"""

import sys

if sys.argv[1:2] == ["scaling"]:
    from benchmarks._scaling import main as scaling

    sys.exit(scaling(sys.argv[2:]))

from benchmarks._cli import main

sys.exit(main())
