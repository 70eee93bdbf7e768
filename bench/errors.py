"""The bench's own failure: something it needs did not happen (a sign-in, a connection)."""


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says what failed (no traceback is shown)."""
