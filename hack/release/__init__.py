"""The release path's build logic, called by .github/workflows/release.yaml and dry-run by the tests.

version: the one version source (pyproject.toml) and the places it is stamped into; changelog: a version's section
of CHANGELOG.md, the GitHub release's body; chart: the Helm chart packaged and pushed as an OCI artifact; images: what
the image builds are given (names, tags, build arguments). Run from the repository root: `python -m hack.release.X`.
"""
