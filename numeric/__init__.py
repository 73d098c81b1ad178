"""numeric: the numpy reverse-mode engine under symgrad (numpy only)."""
from numeric.ops import Op

__all__ = ["Op"]
