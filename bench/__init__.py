"""`make bench`: publisher-scale feed serving, measured side by side in one run."""
