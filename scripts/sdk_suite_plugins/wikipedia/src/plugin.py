"""A tools provider with a global config: looks words up in a small built-in glossary (no network)."""

from lmstudio import ToolDefinition
from lmstudio.plugin import BaseConfigSchema, ToolsProviderController, config_field

_GLOSSARY = {"gguf": "a file format for quantised models", "lm studio": "a desktop app for local models"}


class GlobalConfigSchema(BaseConfigSchema):
    """Settings shared by every chat."""

    fallback: str = config_field(label="Fallback answer", hint="Said when a word is unknown", default="unknown")


async def list_provided_tools(
    ctl: ToolsProviderController[BaseConfigSchema, GlobalConfigSchema],
) -> list[ToolDefinition]:
    """The tools this plugin offers."""
    fallback = ctl.global_config.fallback

    def define(word: str) -> str:
        """Define a word from the glossary."""
        return _GLOSSARY.get(word.lower(), fallback)

    return [define]
