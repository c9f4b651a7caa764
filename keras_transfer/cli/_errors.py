"""`UserError`: a mistake the user of the `keras-transfer` command can fix."""


class UserError(Exception):
    """A bad path, bad data, a backbone that cannot be loaded, an output that exists.

    `keras-transfer` prints it as one line (`keras-transfer CMD: error: ...`)
    and exits with status 2. Every other exception is a bug and keeps its
    traceback.
    """
