"""One exception root. The CLI turns any of these into one line on stderr and an exit code."""


class EdgekitError(Exception):
    """Base of every error edgekit reports to a user. Exit code 1: a run failed."""

    exit_code = 1

    def __init__(self, message: str):
        if not message:
            raise ValueError("EdgekitError needs a message")
        super().__init__(message)
        self.message = message


class InputError(EdgekitError):
    """Bad input from the user: a recipe, a path, an argument. Exit code 2."""

    exit_code = 2


class RecipeError(InputError):
    """A recipe that does not parse or validate; the message names file, line and key."""


class MissingExtra(InputError):
    """A command needs an optional dependency group that is not installed."""

    def __init__(self, extra: str, module: str):
        super().__init__(f"this needs the '{extra}' extra ({module} is not installed): pip install 'edgekit[{extra}]'")


class Interrupted(EdgekitError):
    """Ctrl-C (SIGINT) stopped a command; the message says what was interrupted and what was kept. Exit code 130."""

    exit_code = 130


class StageFailed(EdgekitError):
    """A stage ran but its own check failed (parity, accuracy tolerance). Exit code 1."""


class CheckFailed(EdgekitError):
    """A budget or gate was broken. Exit code 1."""


def require(module: str, extra: str = "shrink"):
    """Import an optional heavy dependency or raise MissingExtra naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(extra, module) from e
