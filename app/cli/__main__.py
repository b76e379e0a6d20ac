"""`python -m app.cli`: the `holdspace` command."""

import sys

from app.cli import main

sys.exit(main())
