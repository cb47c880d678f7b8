"""The `rag` command: argument parsing (rag.cli.main) and one handler per subcommand (rag.cli.commands).
Takes the command line; gives library calls, printed results and an exit code.
"""
from rag.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
