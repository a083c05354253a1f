"""The small exception hierarchy; the CLI turns any of these into a message and an exit code."""

QUOTE_LIMIT = 60  # characters of a value quoted in an error message


def shorten(text: str, limit: int = QUOTE_LIMIT) -> str:
    """Quote at most a short prefix of a long text, so an error never floods the terminal."""
    return text if len(text) <= limit else text[:limit] + "…"


class ReportgenError(Exception):
    """A problem the user can act on; its message is shown without a traceback."""

    exit_code = 1


class ConfigError(ReportgenError):
    """The study file or the command line is invalid; carries one line per problem."""

    exit_code = 2

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


class Interrupted(ReportgenError):
    """The build was stopped by a signal (Ctrl-C: exit 130, SIGTERM: exit 143); nothing was written."""

    def __init__(self, signal_name: str = "SIGINT"):
        super().__init__(f"interrupted ({signal_name}); the previous report was left as it was")
        self.exit_code = 143 if signal_name == "SIGTERM" else 130
