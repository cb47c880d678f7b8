"""CLI command handlers: turn parsed arguments into library calls and print results.

Each handler returns the process exit code. Owners: ingest/remove/search (index stage),
ask (answer stage). Keep each handler short; logic belongs in the library modules.
"""
from __future__ import annotations

import argparse


def ingest(args: argparse.Namespace) -> int:
    raise NotImplementedError("rag ingest")


def remove(args: argparse.Namespace) -> int:
    raise NotImplementedError("rag remove")


def search(args: argparse.Namespace) -> int:
    raise NotImplementedError("rag search")


def ask(args: argparse.Namespace) -> int:
    raise NotImplementedError("rag ask")
