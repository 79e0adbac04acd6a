"""``python -m klachtradar`` runs the CLI."""

from klachtradar.cli import main

main()
