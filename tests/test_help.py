"""``--help`` tells a new user every default, and no help text or error promises what is already there (#17)."""

from __future__ import annotations

import argparse

import pytest

from pixelrnn.cli import build_parser
from pixelrnn.config import TrainConfig


def _subparser(name: str) -> argparse.ArgumentParser:
    (commands,) = [action for action in build_parser()._actions if action.dest == "command"]
    return commands.choices[name]


def test_every_train_flag_that_takes_a_value_shows_its_default():
    missing = [action.option_strings[0] for action in _subparser("train")._actions
               if action.nargs != 0 and "default" not in (action.help or "")]
    assert missing == []


@pytest.mark.parametrize(("flag", "field"), [("--epochs", "epochs"), ("--lr", "lr"), ("--optimizer", "optimizer"),
                                             ("--checkpoint-minutes", "checkpoint_minutes")])
def test_the_defaults_shown_are_the_training_configs(flag, field):
    (action,) = [action for action in _subparser("train")._actions if flag in action.option_strings]
    assert f"(default: {getattr(TrainConfig(), field)})" in action.help


def test_max_test_images_help_says_it_cuts_validation_too_and_takes_the_first():
    (action,) = [action for action in _subparser("eval")._actions if "--max-test-images" in action.option_strings]
    assert "first N" in action.help and "validation" in action.help


@pytest.mark.parametrize("command", ["train", "sample", "complete", "eval", "fid", "bench"])
def test_no_help_text_says_yet(command):
    stale = [action.option_strings for action in _subparser(command)._actions if " yet" in (action.help or "")]
    assert stale == []
