"""How the MCP server is reached: stdio (the default) and Streamable HTTP. Never imports `lmstudio`.

Each transport is imported only when chosen, so that serving stdio never imports the HTTP stack.
"""
