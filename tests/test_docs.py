"""No text in the project points to a document it does not contain.

Reference: the files themselves. Every ``docs/<name>.md`` named in the package (docstrings,
messages, presets), the README, the tests and the benchmarks must exist in ``docs/``; the old
names of the data contract and the methods reference (outside the project) must not be cited.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = re.compile(r"docs/[A-Za-z0-9_./-]+?\.md")
OLD_NAMES = re.compile(r"DATA_CONTRACT|METHODS_REFERENCE")


def _texts() -> dict[Path, str]:
    files = [ROOT / "README.md"]
    for sub, pattern in (("src", "*.py"), ("src", "*.toml"), ("tests", "*.py"), ("bench", "*.py")):
        files += sorted((ROOT / sub).rglob(pattern))
    files += sorted((ROOT / "tests").rglob("*.md"))
    return {p: p.read_text(encoding="utf-8") for p in files}


def test_every_cited_doc_exists():
    cited: dict[str, list[str]] = {}
    for path, text in _texts().items():
        for m in DOC_PATH.findall(text):
            cited.setdefault(m, []).append(str(path.relative_to(ROOT)))
    assert "docs/data_contract.md" in cited and "docs/methods.md" in cited
    missing = {doc: where for doc, where in cited.items() if not (ROOT / doc).is_file()}
    assert not missing, missing


def test_old_document_names_are_not_cited():
    this = Path(__file__).resolve()
    stale = [
        str(p.relative_to(ROOT))
        for p, text in _texts().items()
        if p != this and OLD_NAMES.search(text)
    ]
    assert not stale, stale


def test_contract_and_methods_documents_ship_with_the_project():
    contract = (ROOT / "docs" / "data_contract.md").read_text(encoding="utf-8")
    methods = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    # The sections the code cites by number and by name.
    for n in ("1", "2", "3"):
        assert re.search(rf"^#+ *{n}\b", contract, re.M), f"section {n} missing"
    assert re.search(r"disclosure", methods, re.I)
