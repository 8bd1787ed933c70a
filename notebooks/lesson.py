"""What the notebooks share: the llamaref module, where the data is, where figures go.

The module is found on PYTHONPATH (CI), else in build/python of this repository (after
`cmake --build build --target llamaref_python`). Data: $LLAMAREF_TEST_DATA, default ../shared
beside the repository. Figures: $LLAMAREF_FIGURES, default docs/figures/ (the images the docs link).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
try:
    import llamaref  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(REPO, "build", "python"))
    import llamaref  # noqa: F401

DATA = os.path.abspath(os.environ.get("LLAMAREF_TEST_DATA") or os.path.join(REPO, "..", "shared"))
STORIES = os.path.join(DATA, "models", "stories260K")
ORACLE = os.path.join(DATA, "oracle")
TOKENIZERS = os.path.join(DATA, "tokenizers")
FIGURES = os.path.abspath(os.environ.get("LLAMAREF_FIGURES") or os.path.join(REPO, "docs", "figures"))


def savefig(fig, name):
    """Save a figure as a plain PNG the docs can link (docs/figures/NAME when run locally)."""
    os.makedirs(FIGURES, exist_ok=True)
    path = os.path.join(FIGURES, name)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    print("figure:", os.path.relpath(path, REPO) if path.startswith(REPO) else path)
