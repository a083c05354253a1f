"""Train a study's runs (planned by reportgen.plan) with the fast engine or stock model.fit."""

from reportgen.training.train import group_key, train_runs

__all__ = ["group_key", "train_runs"]
