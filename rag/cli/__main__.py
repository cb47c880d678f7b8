"""`python -m rag.cli ...`: the same as the `rag` command.
Takes the command line; gives the exit code of `rag.cli.main`.
"""
import sys

from rag.cli.main import main

sys.exit(main())
