"""What every subcommand shares: the config it reads."""

from __future__ import annotations

import argparse
from typing import TypeAlias

from service.config import Settings, load_settings, require_config_path

#: What each module's ``register`` receives: ``parser.add_subparsers()``.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

#: Exit status of a configuration or usage error, explained on stderr.
EXIT_CONFIG = 2


def configured_settings() -> Settings:
    """The settings of the config file; refuses to run (exit 2) without one, writing nothing."""
    return load_settings(require_config_path())
