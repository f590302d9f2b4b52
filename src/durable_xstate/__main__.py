"""``python -m durable_xstate`` runs the command line (the same as the ``durable-xstate`` script)."""

from .cli import main

main()
