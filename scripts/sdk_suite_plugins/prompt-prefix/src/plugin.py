"""A prompt preprocessor: puts a configurable prefix before each user prompt."""

from lmstudio import TextDataDict, UserMessage, UserMessageDict
from lmstudio.plugin import BaseConfigSchema, PromptPreprocessorController, config_field


class ConfigSchema(BaseConfigSchema):
    """Per-chat settings."""

    prefix: str = config_field(label="Prefix", hint="Text put before each user prompt", default="Briefly: ")


async def preprocess_prompt(
    ctl: PromptPreprocessorController[ConfigSchema, BaseConfigSchema], message: UserMessage
) -> UserMessageDict | None:
    """Prefix the message's text, leaving other parts as they are."""
    prefix = ctl.plugin_config.prefix
    if not prefix:
        return None
    parts = message.to_dict()["content"]
    first: TextDataDict = {"type": "text", "text": prefix}
    return {"role": "user", "content": [first, *parts]}
