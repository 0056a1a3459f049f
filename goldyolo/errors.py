"""The package's own errors: one base class, and the bad-input branch the CLI answers with exit code 2."""


class GoldYoloError(Exception):
    """Base of every error goldyolo raises on purpose (not programming errors)."""


class InputError(GoldYoloError, ValueError):
    """Bad input from the user: a file, a folder or an argument; the message names it and the problem."""


class InputNotFoundError(InputError, FileNotFoundError):
    """A file or folder the user named does not exist; still a FileNotFoundError for callers that test for one."""
