"""`taco verify`: read-only post-install checks, summarised like a test run (and as JUnit XML)."""
