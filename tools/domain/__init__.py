"""Pure rules: no I/O, nothing of ours imported from outside this package."""
