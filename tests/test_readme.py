"""The README's links into docs/. `make docs` checks the site's own links (mkdocs --strict);
the README is not part of the site, so its links are checked here."""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """The heading anchors of a page, as MkDocs (and GitHub) make them."""
    prose = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # a `# comment` is no heading
    headings = re.findall(r"^#+ (.+)$", prose, re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in headings}


def test_every_relative_link_in_the_readme_leads_somewhere() -> None:
    links = [t for t in LINK.findall((ROOT / "README.md").read_text()) if "://" not in t]
    assert links, "the README links to the documentation"
    for target in links:
        path, _, anchor = target.partition("#")
        page = ROOT / path
        assert page.exists(), f"README links to {path}, which does not exist"
        if anchor:
            assert anchor in anchors(page), f"README links to {target}: no such heading"


def test_the_anchor_rule_matches_headings() -> None:
    page = ROOT / "docs" / "getting-started.md"
    assert "walk-through-with-curl" in anchors(page)
    assert "the-seeded-shows-update-sharp-tech-sharp-china-goat" not in anchors(page)  # code
