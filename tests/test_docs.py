"""No text in the project points to a document it does not contain.

Reference: the files themselves. Every ``docs/<name>.md`` named in the package (docstrings,
messages, presets), the README, the tests and the benchmarks must exist in ``docs/``; the old
names of the data contract and the methods reference and the brief's ``seeds/`` folder (outside
the project; the force pages are described in docs/sources.md) must not be cited.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = re.compile(r"docs/[A-Za-z0-9_./-]+?\.md")
#: the brief's documents and its folder of force pages (``seeds/``), outside the project
OLD_NAMES = re.compile(r"DATA_CONTRACT|METHODS_REFERENCE|\bseeds/")


def _texts() -> dict[Path, str]:
    files = [ROOT / "README.md"]
    for sub, pattern in (("src", "*.py"), ("src", "*.toml"), ("tests", "*.py"), ("bench", "*.py")):
        files += sorted((ROOT / sub).rglob(pattern))
    files += sorted((ROOT / "tests").rglob("*.md")) + sorted((ROOT / "docs").rglob("*.md"))
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


def _section(text: str, heading: str) -> str:
    start = re.search(rf"^#+ *{re.escape(heading)}.*$", text, re.M)
    assert start, f"no section {heading!r}"
    nxt = re.search(r"^#+ ", text[start.end() :], re.M)
    return text[start.end() : start.end() + nxt.start()] if nxt else text[start.end() :]


def _table_rows(text: str) -> dict[str, str]:
    """First cell -> whole line of every markdown table row of ``text`` (header rows too)."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and len(cells) >= 2:
            for name in cells[0].split(","):
                out[name.strip()] = line
    return out


def test_every_rule_the_code_enforces_is_in_the_contract():
    """Columns, codes, bounds and length limits of the ingest specs appear in the document.

    Reference: the code's own specs (methods.data.ingest.VICTIM_SPEC, RESPONSE_SPEC) and
    limits (methods.config.presets.TEXT_LIMITS); the limits table must equal them exactly.
    """
    from methods.config.presets import TEXT_LIMITS
    from methods.data.ingest import RESPONSE_SPEC, VICTIM_SPEC

    contract = (ROOT / "docs" / "data_contract.md").read_text(encoding="utf-8")
    for heading, spec in (("1.", VICTIM_SPEC), ("2.", RESPONSE_SPEC)):
        sec = _section(contract, heading)
        rows = _table_rows(sec)
        for c in spec:
            if c.name == "case_key" and "case_key" not in rows:
                continue  # documented in the key rules below (section 2 text)
            assert c.name in rows, f"section {heading} does not list column {c.name}"
            line = rows[c.name]
            for code in c.codes:
                assert code in line, f"code {code} of {c.name} is not in the contract"
            if c.kind == "int":
                assert str(c.lo) in line and str(c.hi) in line, c.name
            if c.required and c.kind not in ("code", "date", "disposition"):
                assert "required" in line or "must match" in line, c.name
    rules = _section(contract, "Row rules")
    limits = {
        k: int(v.split("|")[2].strip())
        for k, v in _table_rows(rules).items()
        if k != "column" and k.strip("-")  # not the header or separator row
    }
    assert limits == TEXT_LIMITS
    for words in ("crime_ref_prefix", "crime_ref_pattern", "[districts]", "[district_aliases]"):
        assert words in rules, words
    assert "[limits]" in rules and "first 10" in rules
