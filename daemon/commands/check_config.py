"""``rebalancer check-config``: validate config.yaml and print the effective config."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from daemon.commands.common import add_config_arg
from daemon.config import (
    effective_config,
    load_config,
    load_credentials,
    require_credentials_for_mode,
)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "check-config",
        help="validate config.yaml and print the effective config (secrets masked)",
        description="Validate the config and print it as it will run, secrets masked. "
        "Exit 0 when valid, 2 when not.",
    )
    add_config_arg(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    creds = load_credentials()
    require_credentials_for_mode(settings, creds)
    print(yaml.safe_dump(effective_config(settings, creds), sort_keys=False), end="")
    print(f"# {args.config}: valid", flush=True)
    return 0
