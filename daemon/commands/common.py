"""Arguments shared by subcommands."""

from __future__ import annotations

import argparse


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", default="config.yaml", metavar="FILE",
        help="path to config.yaml (default: ./config.yaml)",
    )
