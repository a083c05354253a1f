"""reportgen: train a regularization study and write a report people can trust."""

__version__ = "0.1.0"
