"""The LocalStack provider ships safeguards/route53_rules itself (as dnssg_route53_rules): one
implementation of Route 53's rules. localstack/start reinstalls the plugin when a file under
localstack/plugin changes, so the plugin carries the rules' hash; this test keeps it current."""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAMP = ROOT / "localstack" / "plugin" / "RULES.sha256"


def rules_hash() -> str:
    h = hashlib.sha256()
    for f in sorted((ROOT / "safeguards" / "route53_rules").glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def test_plugin_ships_the_current_rules() -> None:
    assert "../../safeguards/route53_rules" in (ROOT / "localstack" / "plugin" / "pyproject.toml").read_text()
    assert STAMP.read_text().strip() == rules_hash(), (
        "safeguards/route53_rules changed: run `python tests/conformance/test_rules_shipped.py` to update "
        "localstack/plugin/RULES.sha256 (so localstack/start reinstalls the plugin)"
    )


def test_docs_list_the_measured_gaps() -> None:
    from gaps import markdown_table

    assert markdown_table() in (ROOT / "docs" / "route53.md").read_text(), (
        "tests/conformance/gaps.py changed: paste `python tests/conformance/gaps.py` into docs/route53.md"
    )


if __name__ == "__main__":
    STAMP.write_text(rules_hash() + "\n")
