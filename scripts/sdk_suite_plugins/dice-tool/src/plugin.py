"""A tools provider with a per-chat config: rolls dice."""

import random

from lmstudio import ToolDefinition
from lmstudio.plugin import BaseConfigSchema, ToolsProviderController, config_field


class ConfigSchema(BaseConfigSchema):
    """Per-chat settings."""

    max_sides: int = config_field(label="Most sides a die may have", hint="Larger dice are refused", default=100)


async def list_provided_tools(ctl: ToolsProviderController[ConfigSchema, BaseConfigSchema]) -> list[ToolDefinition]:
    """The tools this plugin offers."""
    limit = ctl.plugin_config.max_sides

    def roll(sides: int, count: int = 1) -> list[int]:
        """Roll `count` dice with `sides` sides each."""
        if not 2 <= sides <= limit:
            raise ValueError(f"dice have 2 to {limit} sides")
        return [random.randint(1, sides) for _ in range(count)]

    return [roll]
