"""Execute one notebook from notebooks/ the way CI does; fail if any cell fails.

usage: run_notebook.py NOTEBOOK.ipynb FIGURE_DIR      (exit 77 = skipped)

Runs with Debian's Jupyter pieces (python3-nbclient, python3-ipykernel) in a fresh kernel whose
working folder is notebooks/; the `llamaref` module comes from PYTHONPATH, the data from
LLAMAREF_TEST_DATA (default ../shared), and the figures go to FIGURE_DIR (LLAMAREF_FIGURES).
Nothing is written back into the notebook file: it stays without outputs.
"""
import os
import sys
import time

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    import ipykernel  # noqa: F401  (the kernel itself)
    import matplotlib  # noqa: F401
    import numpy  # noqa: F401
except ImportError as e:
    print(f"SKIPPED: {e.name} is not available to {sys.executable} (scripts/install-deps.sh --test installs it)")
    sys.exit(77)

path, figures = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
root = os.path.dirname(os.path.dirname(path))
data = os.environ.get("LLAMAREF_TEST_DATA") or os.path.join(root, "..", "shared")
if not os.path.exists(os.path.join(data, "models", "stories260K", "stories260K.bin")):
    print(f"SKIPPED: stories260K not found under {data} (set LLAMAREF_TEST_DATA)")
    sys.exit(77)
os.makedirs(figures, exist_ok=True)
os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
os.environ.update(LLAMAREF_FIGURES=figures, LLAMAREF_TEST_DATA=os.path.abspath(data), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
                  PYDEVD_DISABLE_FILE_VALIDATION="1")
nb = nbformat.read(path, as_version=4)
stored = [c for c in nb.cells if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
if stored:
    print(f"FAIL: {os.path.basename(path)} is stored with outputs (clear them: notebooks/README.md)")
    sys.exit(1)
start = time.time()
try:
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path)}}).execute()
except CellExecutionError as e:
    print(f"FAIL: a cell of {os.path.basename(path)} raised:\n{e}")
    sys.exit(1)
n_cells = sum(c.cell_type == "code" for c in nb.cells)
print(f"{os.path.basename(path)}: {n_cells} code cells ran in {time.time() - start:.1f} s; figures in {figures}")
