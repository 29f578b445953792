"""A version's section of CHANGELOG.md, the body of its GitHub release (hack/release/changelog.py)."""

from __future__ import annotations

import pytest
from hack.release.changelog import CHANGELOG, ChangelogError, section
from hack.release.version import current

SAMPLE = """\
# Changelog

Intro text that belongs to no release.

## [Unreleased]

### Added
- Something coming.

## [0.2.0] - 2026-10-01

### Fixed
- A bug, shown with a heading-like line in code:

```sh
## [0.1.0] is not a heading here
```

## [0.1.0] - 2026-09-01

### Added
- The first version.

[Unreleased]: https://example.org/compare/v0.2.0...HEAD
[0.2.0]: https://example.org/compare/v0.1.0...v0.2.0
[0.1.0]: https://example.org/releases/tag/v0.1.0
"""


def test_a_section_is_its_body_up_to_the_next_version() -> None:
    assert section(SAMPLE, "Unreleased") == "### Added\n- Something coming."


def test_a_heading_inside_a_code_block_does_not_end_a_section() -> None:
    body = section(SAMPLE, "0.2.0")
    assert body.startswith("### Fixed\n")
    assert body.endswith("## [0.1.0] is not a heading here\n```")


def test_the_last_section_stops_before_the_link_definitions() -> None:
    assert section(SAMPLE, "0.1.0") == "### Added\n- The first version."


@pytest.mark.parametrize("version", ["0.3.0", "0.2", "2026-10-01"])
def test_a_version_without_a_section_is_refused(version: str) -> None:
    with pytest.raises(ChangelogError, match="no section"):
        section(SAMPLE, version)


def test_an_empty_section_is_refused_so_no_release_has_blank_notes() -> None:
    with pytest.raises(ChangelogError, match="empty"):
        section("## [0.2.0] - 2026-10-01\n\n## [0.1.0] - 2026-09-01\n- x\n", "0.2.0")


def test_the_changelog_has_sections_for_unreleased_and_the_current_version() -> None:
    text = CHANGELOG.read_text()
    assert section(text, "Unreleased")
    assert "### " in section(text, current()), "a release's notes list its changes under Keep a Changelog's kinds"
