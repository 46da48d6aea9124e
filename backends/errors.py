"""Errors shared by every layer that reads files.

`ModelFormatError` lives here, in the bottom layer, so both the core (`wisp.load`) and the
edge runtime can raise the one class without the core importing `wisp.edge` (DESIGN §1).
`wisp.edge.errors` and the façade (`wisp.ModelFormatError`) re-export it.
"""


class ModelFormatError(ValueError):
    """A model file is malformed or hostile; the message names the offending field."""
