"""``python -m stresstest``."""

from stresstest.cli import main

main()
