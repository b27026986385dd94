from . import heads, losses, utils  # noqa: F401
