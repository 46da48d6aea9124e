"""Errors the runtime raises."""


class ModelFormatError(ValueError):
    """A model file is malformed or hostile; the message names the offending field."""
