"""`python -m lion_search.cli`: the `lion-search` command."""
import sys

from lion_search.cli.entry import main

if __name__ == "__main__":
    sys.exit(main())
