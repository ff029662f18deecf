#!/usr/bin/env python3
"""Execute notebooks headlessly, in order; exit non-zero if any cell of any notebook fails.

    python notebooks/execute.py notebooks/*.ipynb [--output-dir DIR] [--timeout SECONDS]
    python notebooks/execute.py --clear notebooks/*.ipynb     # strip outputs before committing

Each notebook runs in a fresh kernel with the notebook's folder as working directory (as Jupyter
does). The committed .ipynb files are never written: they are executed in memory, and the
executed copies (with outputs) go to --output-dir, outside the repository, if one is given.

A notebook that is committed with outputs or execution counts fails the check: notebooks are
committed clean, so that no data leaks into the repository through a printed table or chart.
`--clear` cleans them in place.

A notebook stops at its first failing cell; the following notebooks still run. Exit code 0 when
every notebook ran, 1 when a cell failed or timed out (the message names the notebook, the cell,
its first line and the error), 2 on bad usage or a notebook committed with outputs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def dirty_cells(nb) -> list[int]:
    """Indices of code cells that carry outputs or an execution count."""
    return [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]


def clear(path: Path) -> bool:
    """Strips outputs and execution counts in place; returns whether the file changed."""
    nb = nbformat.read(path, as_version=4)
    timed = [c for c in nb.cells if "execution" in c.metadata or "ExecuteTime" in c.metadata]
    if not dirty_cells(nb) and not timed:
        return False
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # nbclient's timings
        cell.metadata.pop("ExecuteTime", None)  # the ExecuteTime extension's
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, path)
    return True


def first_line(cell) -> str:
    lines = [line for line in cell.source.splitlines() if line.strip()]
    return lines[0][:100] if lines else "(empty cell)"


def run(path: Path, timeout: int, output_dir: Path | None) -> tuple[bool, float]:
    """Executes one notebook; returns (ok, seconds)."""
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    nb = nbformat.read(path, as_version=4)
    # The kernel talks to us over Unix sockets in a private temporary folder rather than TCP.
    sockets = tempfile.mkdtemp(prefix="vigil-kernel-")
    km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel"))
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.monotonic()
    ok = True
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    with client.setup_kernel(cleanup_kc=True):  # we made the kernel manager, so we shut the kernel down
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            number = code_cells.index(index) + 1
            where = f"{path.name}: cell {index + 1} of {len(nb.cells)} (code cell {number}), starting `{first_line(cell)}`"
            try:
                client.execute_cell(cell, index)
            except CellTimeoutError:
                print(f"FAILED {where}: no result within {timeout} s (VIGIL_NOTEBOOK_TIMEOUT)", file=sys.stderr)
                ok = False
                break
            except DeadKernelError as e:
                print(f"FAILED {where}: the kernel died ({e})", file=sys.stderr)
                ok = False
                break
            except CellExecutionError as e:
                print(f"FAILED {where}:\n{ANSI.sub('', str(e))}", file=sys.stderr)
                ok = False
                break
    seconds = time.monotonic() - start
    shutil.rmtree(sockets, ignore_errors=True)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, output_dir / path.name)
    after = hashlib.sha256(path.read_bytes()).hexdigest()
    if before != after:
        print(f"FAILED {path.name}: the notebook file changed while it ran (a cell wrote to it?)", file=sys.stderr)
        ok = False
    return ok, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=int(os.environ.get("VIGIL_NOTEBOOK_TIMEOUT", "600")),
                        help="seconds per cell (default: $VIGIL_NOTEBOOK_TIMEOUT, else 600)")
    parser.add_argument("--output-dir", type=Path, help="write executed copies here (never over the originals)")
    parser.add_argument("--clear", action="store_true", help="strip outputs in place and exit")
    args = parser.parse_args()

    paths = [p.resolve() for p in args.notebooks]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        print("no such notebook: " + ", ".join(map(str, missing)), file=sys.stderr)
        return 2
    if args.clear:
        for p in paths:
            print(f"{p.name}: {'cleared' if clear(p) else 'already clean'}")
        return 0
    if args.output_dir is not None:
        out = args.output_dir.resolve()
        if any(out == p.parent for p in paths):
            print("--output-dir must not be the notebooks' own folder", file=sys.stderr)
            return 2

    dirty = {p: dirty_cells(nbformat.read(p, as_version=4)) for p in paths}
    dirty = {p: cells for p, cells in dirty.items() if cells}
    if dirty:
        for p, cells in dirty.items():
            shown = ", ".join(str(i + 1) for i in cells[:10])
            print(f"{p.name}: {len(cells)} code cell(s) committed with outputs or execution counts (cells {shown})",
                  file=sys.stderr)
        print("Notebooks are committed without outputs; clean them with\n"
              "  python notebooks/execute.py --clear notebooks/*.ipynb", file=sys.stderr)
        return 2

    # Quieter kernels: debugpy's warning about frozen modules on Python 3.11.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    total = time.monotonic()
    failed = []
    for p in paths:
        print(f"-- {p.name} ...", flush=True)
        ok, seconds = run(p, args.timeout, args.output_dir)
        print(f"   {p.name}: {'ok' if ok else 'FAILED'} in {seconds:.1f} s", flush=True)
        if not ok:
            failed.append(p.name)
    print(f"notebooks: {len(paths) - len(failed)} of {len(paths)} ran without error in {time.monotonic() - total:.1f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    if args.output_dir is not None:
        print(f"executed copies: {args.output_dir.resolve()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
