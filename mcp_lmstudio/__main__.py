"""`python -m mcp_lmstudio`: the same as the `mcp-lmstudio` command."""

from .cli import main

if __name__ == "__main__":
    main()
