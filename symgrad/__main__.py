"""``python -m symgrad ...`` runs the ``symgrad`` command line (:mod:`symgrad.cli`)."""
from symgrad.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
