"""The input error both stdin validators raise (standard library only)."""


class InputError(ValueError):
    """Stdin is not a usable plugin invocation; the message says what is wrong."""
