"""`python -m streetwatch` is the `streetwatch` command."""

from streetwatch.cli import main

main()
