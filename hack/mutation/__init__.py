"""`make mutation`: mutation testing of the pure core with mutmut (see docs/developer-guide.md#mutation-testing)."""
