"""Release tooling (not part of the plugin): ``python -m release.build`` makes the Stash plugin source."""
