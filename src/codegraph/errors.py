"""The base of errors whose message is fit for a user: the CLI prints it on one line."""


class CodeGraphError(Exception):
    pass
