"""Where the project's shipped files are: the one definition of the assets path."""

from __future__ import annotations

from pathlib import Path

#: ``assets/`` at the repository root: vendored JS, CSS, and the data written for the project.
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
#: Shipped data sets (``assets/data``; see its README).
DATA_DIR = ASSETS_DIR / "data"
#: Vendored JavaScript libraries (``assets/vendor``; see its README).
VENDOR_DIR = ASSETS_DIR / "vendor"
