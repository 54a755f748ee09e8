"""`python -m safeguards` runs the CLI."""

from .cli import main

main()
