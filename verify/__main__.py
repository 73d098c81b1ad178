"""``python -m verify``: the verification sweep (same as ``symgrad verify``)."""
from verify.cli import main

raise SystemExit(main())
