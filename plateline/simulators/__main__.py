"""``python -m plateline.simulators``: run the simulated line (see ``cli``)."""

from plateline.simulators.cli import main

raise SystemExit(main())
