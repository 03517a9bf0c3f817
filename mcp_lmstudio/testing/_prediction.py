"""One `predict` channel: prompt processing, reasoning, answer fragments, tool calls, then `success`.

Packet shapes follow lmstudio-js `llmBackendInterface` (`predict` toClientPacket) and the SDK 1.5 parser.
Pacing is to deadlines: token i is sent at `start + i * token_delay`, so sleep overshoots do not add up.

Context overflow (`llm.prediction.contextOverflowPolicy`, LM Studio docs "contextOverflowPolicy"), when the
prompt's tokens exceed the instance's context length:

* `stopAtLimit` (the default): the prediction fails with LM Studio's own error, "Trying to keep the first N
  tokens when context the overflows. However, the model is loaded with context length of only M tokens..."
  (as users report it: lmstudio-bug-tracker issues 237 and 546); and generation that fills the context
  stops with `contextLengthReached`;
* `truncateMiddle`: LM Studio keeps the system prompt and first message and drops from the middle, so it
  fails with the same error only when those alone do not fit (issue 546: a first message longer than
  the context); otherwise the prompt is cut to the context length;
* `rollingWindow`: the prompt is cut to the context length.

When cut, the reported `promptTokensCount` is the context length; only `stopAtLimit` stops generation at
the limit.

A round that ends in tool calls reports `eosFound`, as LM Studio does (lmstudio-js's recorded `act()`
snapshots). A draft model (`llm.prediction.speculativeDecoding.draftModel`) must be a catalogue LLM or drafter,
else the prediction fails with LM Studio's `Cannot find model "<key>"`; with one, the stats carry LM Studio's
draft statistics (`usedDraftModelKey`, `totalDraftTokensCount`, `acceptedDraftTokensCount`,
`rejectedDraftTokensCount`, `ignoredDraftTokensCount`) and the drafted fragments say `containsDrafted`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._catalog import EmulatedModel
from ._errors import IMAGES_UNSUPPORTED
from ._instances import Instance
from ._models import check_template
from ._prompt import count_tokens, format_prompt
from ._protocol import Channel, ChannelHandler, EndpointError, checked_value, error_payload, flatten_config
from ._records import PredictionRecord, Reply, ToolCall
from ._records import tokenize as _tokens

if TYPE_CHECKING:
    from ._emulator import LMStudioEmulator

__all__ = ["NOMINAL_TOKENS_PER_SECOND", "Prediction", "PredictionEndpoints"]

#: Generation speed reported when tokens come without delay (the stats are derived, not measured).
NOMINAL_TOKENS_PER_SECOND = 1000.0

#: The prediction config field that names a speculative-decoding draft model.
DRAFT_MODEL_FIELD = "llm.prediction.speculativeDecoding.draftModel"


class Prediction:
    """Streams one prediction to `channel`; `run()` returns after the `success` packet."""

    def __init__(
        self,
        emulator: LMStudioEmulator,
        channel: Channel,
        instance: Instance,
        record: PredictionRecord,
        raw_prompt: str | None = None,
        draft_model: EmulatedModel | None = None,
    ) -> None:
        self.emulator = emulator
        self.draft_model = draft_model
        self.reply: Reply | None = None
        self.channel = channel
        self.instance = instance
        self.record = record
        self.policy = str(record.config.get("llm.prediction.contextOverflowPolicy") or "stopAtLimit")
        prompt = raw_prompt if raw_prompt is not None else format_prompt(record.history, record.config)
        self.prompt_tokens = count_tokens(prompt)
        self.predicted = 0
        self.stop_strings: list[str] = [stop for stop in record.config.get("llm.prediction.stopStrings") or [] if stop]
        self.held = ""  # answer text not sent yet, because it may be the start of a stop string
        self.held_tokens = 0
        self._start = 0.0
        self._sent = 0

    def check_context(self) -> None:
        """Fail as LM Studio does when the part of the prompt the policy keeps does not fit; else cut it."""
        limit = self.instance.context_length
        if self.prompt_tokens <= limit:
            return
        kept = {"stopAtLimit": self.prompt_tokens, "truncateMiddle": self._head_tokens()}.get(self.policy, 0)
        if kept > limit:
            raise EndpointError(
                error_payload(
                    f"Trying to keep the first {kept} tokens when context the overflows. However, the model is "
                    f"loaded with context length of only {limit} tokens, which is not enough. Try to load the "
                    "model with a larger context length, or provide a shorter input"
                )
            )
        self.prompt_tokens = limit

    def _head_tokens(self) -> int:
        """Tokens of what `truncateMiddle` always keeps: the system messages and the first other message."""
        messages = self.record.history
        first = next((i for i, m in enumerate(messages) if m.get("role") != "system"), len(messages) - 1)
        return count_tokens(format_prompt(messages[: first + 1], self.record.config))

    async def run(self) -> None:
        if self.emulator.unknown_packets:  # the SDK warns about each one and carries on
            await self.channel.send({"type": "emulatorUnknownPacket", "note": "not part of the protocol"})
        stop_reason = await self._process_prompt()
        if stop_reason is None and self.emulator.hang_predictions:
            await self.channel.cancelled.wait()
            stop_reason = "userStopped"
        if stop_reason is None:
            self.reply = self.emulator.reply_for(self.record)
            stop_reason = await self._stream_reply(self.reply)
        self.record.cancelled = self.channel.cancelled.is_set()
        if self.reply is not None and self.reply.stop_reason is not None and not self.record.cancelled:
            stop_reason = self.reply.stop_reason
        await self.channel.send(self.success_packet(stop_reason))
        self.record.stop_reason = stop_reason

    async def _process_prompt(self) -> str | None:
        total = self.prompt_tokens
        start = asyncio.get_running_loop().time()
        for progress in (0.0, 0.5, 1.0):
            processed = int(total * progress)
            details = {
                "cachedTokenCount": 0,
                "totalPromptTokenCount": total,
                "processedPromptTokenCount": processed,
                "unprocessedPromptTokenCount": total - processed,
            }
            await self.channel.send({"type": "promptProcessingProgress", "progress": progress, "details": details})
            deadline = start + self.emulator.prompt_processing_delay * (progress + 0.5)
            if progress < 1.0 and await self.channel.wait_cancelled_until(deadline):
                return "userStopped"
        return None

    def _pieces(self, reply: Reply) -> list[tuple[str, str]]:
        pieces: list[tuple[str, str]] = []
        if reply.reasoning:
            pieces.append(("<think>", "reasoningStartTag"))
            pieces.extend((token, "reasoning") for token in _tokens(reply.reasoning))
            pieces.append(("</think>", "reasoningEndTag"))
        pieces.extend((token, "none") for token in reply.answer_tokens())
        return pieces

    def _fail_if_due(self, reply: Reply, *, at_end: bool = False) -> None:
        """Raise the reply's scripted error once `error_after` fragments have gone out (or at the end)."""
        failure = reply.failure
        if failure is None or (not at_end and self.record.fragments < (reply.error_after or 0)):
            return
        if reply.unload_on_error:
            self.emulator.unload(self.instance.identifier)
        raise EndpointError(failure.payload())

    async def _stream_reply(self, reply: Reply) -> str:
        self._start = asyncio.get_running_loop().time()
        for content, reasoning_type in self._pieces(reply):
            self._fail_if_due(reply)
            stop = self._limit_reached()
            if stop is not None:
                await self._release_held()
                return stop
            self.predicted += 1
            if reasoning_type != "none":
                await self._send_fragment(content, reasoning_type, 1)
            elif await self._add_answer_token(content, exact=reply.fragments is not None):
                return "stopStringFound"
            if await self._pace():
                return "userStopped"
        await self._release_held()
        self._fail_if_due(reply, at_end=True)
        if reply.tool_calls:
            return await self._send_tool_calls(reply.tool_calls)
        return "eosFound"

    def _limit_reached(self) -> str | None:
        if self.channel.cancelled.is_set():
            return "userStopped"
        max_tokens = checked_value(self.record.config.get("llm.prediction.maxPredictedTokens"))
        if max_tokens is not None and self.predicted >= max_tokens:
            return "maxPredictedTokensReached"
        if self.policy == "stopAtLimit" and self.prompt_tokens + self.predicted >= self.instance.context_length:
            return "contextLengthReached"
        return None

    async def _pace(self) -> bool:
        """Wait until the next token's deadline; return whether the client cancelled meanwhile."""
        self._sent += 1
        return await self.channel.wait_cancelled_until(self._start + self._sent * self.emulator.token_delay)

    async def _send_tool_calls(self, calls: Sequence[ToolCall]) -> str:
        for number, call in enumerate(calls, 1):
            if self.channel.cancelled.is_set():
                return "userStopped"
            call_id = call.id if call.id is not None else f"call_{number}"
            arguments = json.dumps(dict(call.arguments))
            await self.channel.send({"type": "toolCallGenerationStart", "toolCallId": call_id})
            await self.channel.send({"type": "toolCallGenerationNameReceived", "name": call.name})
            await self.channel.send({"type": "toolCallGenerationArgumentFragmentGenerated", "content": arguments})
            request = {"type": "function", "id": call_id, "name": call.name, "arguments": dict(call.arguments)}
            raw = json.dumps({"name": call.name, "arguments": dict(call.arguments)})
            raw_content = f"<tool_call>{raw}</tool_call>"
            end = {"type": "toolCallGenerationEnd", "toolCallRequest": request, "rawContent": raw_content}
            await self.channel.send(end)
            self.predicted += max(len(_tokens(raw)), 1)
            self.record.tool_calls.append(call)
            self.emulator._changed()
            if await self._pace():
                return "userStopped"
        return "eosFound"  # LM Studio reports a round that ends in tool calls so (not "toolCalls")

    async def _add_answer_token(self, content: str, *, exact: bool) -> bool:
        """Send what can no longer start a stop string; return whether a stop string was completed."""
        if exact and not self.stop_strings:  # scripted fragments go out one for one, unchanged
            await self._send_fragment(content, "none", 1)
            return False
        self.held += content
        self.held_tokens += 1
        sent = self.record.text
        whole = sent + self.held
        found = (whole.find(stop, max(len(sent) - len(stop), 0)) for stop in self.stop_strings)
        cuts = [index for index in found if index >= 0]
        if cuts:  # LM Studio stops before the stop string and does not send it
            self.held = whole[len(sent) : min(cuts)]
            await self._release_held()
            return True
        keep = max((_overlap(self.held, stop) for stop in self.stop_strings), default=0)
        ready, self.held = self.held[: len(self.held) - keep], self.held[len(self.held) - keep :]
        if ready:
            tokens, self.held_tokens = (self.held_tokens, 0) if not self.held else (self.held_tokens - 1, 1)
            await self._send_fragment(ready, "none", max(tokens, 1))
        return False

    async def _release_held(self) -> None:
        if self.held:
            await self._send_fragment(self.held, "none", max(self.held_tokens, 1))
        self.held, self.held_tokens = "", 0

    async def _send_fragment(self, content: str, reasoning_type: str, tokens: int) -> None:
        self.record.fragments += 1
        if reasoning_type == "none":
            self.record.text += content
        fragment = {
            "content": content,
            "tokensCount": tokens,
            "containsDrafted": self.draft_model is not None and self.record.fragments > 1,
            "reasoningType": reasoning_type,
            "isStructural": reasoning_type in ("reasoningStartTag", "reasoningEndTag"),
        }
        if self.reply is not None:
            fragment |= dict(self.reply.fragment_fields)
        await self.channel.send({"type": "fragment", "fragment": fragment})
        self.emulator._changed()

    def draft_stats(self) -> dict[str, Any]:
        """Speculative-decoding counts, derived from the script: every token after the first was drafted and
        accepted, and one draft token was rejected for every two accepted."""
        accepted = max(self.predicted - 1, 0)
        rejected = (accepted + 1) // 2
        return {
            "usedDraftModelKey": self.draft_model.key if self.draft_model is not None else None,
            "totalDraftTokensCount": accepted + rejected,
            "acceptedDraftTokensCount": accepted,
            "rejectedDraftTokensCount": rejected,
            "ignoredDraftTokensCount": 0,
        }

    def success_packet(self, stop_reason: str) -> dict[str, Any]:
        # Derived from the script (counts and delays), not measured, so that runs are reproducible.
        delay = self.emulator.token_delay
        speed = (1 / delay if delay > 0 else NOMINAL_TOKENS_PER_SECOND) if self.predicted else 0.0
        first_token = self.emulator.prompt_processing_delay + delay
        stats: dict[str, Any] = {
            "stopReason": stop_reason,
            "tokensPerSecond": round(speed, 3),
            "numGpuLayers": 0,
            "totalTimeSec": round(self.emulator.prompt_processing_delay + self.predicted * delay, 6),
            "promptTokensCount": self.prompt_tokens,
            "predictedTokensCount": self.predicted,
            "totalTokensCount": self.prompt_tokens + self.predicted,
        }
        if self.predicted:  # no first token, no time to it: LM Studio leaves the field out
            stats["timeToFirstTokenSec"] = round(first_token, 6)
        if self.draft_model is not None:
            stats |= self.draft_stats()
        if self.reply is not None:
            stats |= dict(self.reply.stats_fields)
        prediction_fields = [{"key": key, "value": value} for key, value in self.record.config.items()]
        return {
            "type": "success",
            "stats": stats,
            "modelInfo": self.instance.info(),
            "loadModelConfig": {"fields": self.instance.load_config_fields()},
            "predictionConfig": {"fields": prediction_fields},
        }


class PredictionEndpoints:
    """The `/llm` prediction channels: `predict` (history) and `completeRawText` (lmstudio-js `complete()`).

    Each resolves its instance, collapses the config stack (under a preset's fields, if named:
    `generic.presetNotFound` otherwise), records the prediction, waits for a parallel slot, and streams.
    """

    def __init__(self, emulator: LMStudioEmulator) -> None:
        self.emulator = emulator

    def channels(self) -> dict[str, ChannelHandler]:
        return {"predict": self.predict, "completeRawText": self.complete_raw_text}

    def _config(self, parameter: dict[str, Any]) -> dict[str, Any]:
        config = flatten_config(parameter.get("predictionConfigStack"))
        preset = parameter.get("fuzzyPresetIdentifier")
        if preset is None:
            return config
        name = next((n for n in self.emulator.presets if n.lower() == str(preset).lower()), None)
        if name is None:
            raise EndpointError(
                error_payload(
                    f'Cannot find a preset matching "{preset}"',
                    "generic.presetNotFound",
                    specifiedFuzzyPresetIdentifier=preset,
                    availablePresetsSample=list(self.emulator.presets)[:10],
                    totalAvailablePresets=len(self.emulator.presets),
                )
            )
        return self.emulator.presets[name] | config  # the API's own fields override the preset's

    def _draft_model(self, config: dict[str, Any]) -> EmulatedModel | None:
        """The catalogue model the config names as draft model (LLM or drafter), or LM Studio's error."""
        key = config.get(DRAFT_MODEL_FIELD)
        if not key:
            return None
        for kind in ("llm", "drafter"):
            model = self.emulator.registry.find_model(str(key), kind)
            if model is not None:
                return model
        raise EndpointError(error_payload(f'Cannot find model "{key}"'))

    async def complete_raw_text(self, channel: Channel, parameter: dict[str, Any]) -> None:
        """lmstudio-js `complete()`: `completeRawText {modelSpecifier, rawPrompt, predictionConfigStack}`.

        Recorded as a one-message user history; the prompt is the raw text, untemplated.
        """
        prompt = str(parameter.get("rawPrompt", ""))
        await self.predict(channel, parameter, raw_prompt=prompt)

    async def predict(self, channel: Channel, parameter: dict[str, Any], raw_prompt: str | None = None) -> None:
        instance = self.emulator.registry.resolve(parameter.get("modelSpecifier"), "llm")
        config = self._config(parameter)
        structured = config.get("llm.prediction.structured")
        if raw_prompt is not None:
            messages = [{"role": "user", "content": [{"type": "text", "text": raw_prompt}]}]
        else:
            messages = (parameter.get("history") or {}).get("messages", [])
        record = PredictionRecord(
            model=instance.model.key,
            history=messages,
            config=config,
            structured=structured if isinstance(structured, dict) and structured.get("type") != "none" else None,
            identifier=instance.identifier,
        )
        if record.image_count and not instance.model.vision:
            raise EndpointError(IMAGES_UNSUPPORTED.payload())
        if raw_prompt is None:
            check_template(instance.model, messages)
        draft_model = self._draft_model(config)
        prediction = Prediction(self.emulator, channel, instance, record, raw_prompt, draft_model)
        prediction.check_context()
        self.emulator.record(record)
        try:
            await self._run_in_slot(prediction)
        except Exception:
            record.stop_reason = "failed"
            raise
        finally:
            if record.stop_reason is None:  # the socket went away mid-prediction
                record.stop_reason = "connectionLost"
            self.emulator._changed()

    async def _run_in_slot(self, prediction: Prediction) -> None:
        record = prediction.record
        if not await self.emulator.slots.acquire(prediction.channel):  # cancelled while queued: never started
            record.cancelled = True
            await prediction.channel.send(prediction.success_packet("userStopped"))
            record.stop_reason = "userStopped"
            return
        record.started = True
        self.emulator.peak_concurrent_predictions = max(
            self.emulator.peak_concurrent_predictions, self.emulator.slots.active
        )
        self.emulator._changed()
        try:
            self.emulator.registry.touch(prediction.instance)
            await prediction.run()
        finally:
            self.emulator.slots.release()


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of `text` that is a proper start of `stop`."""
    for length in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-length:]):
            return length
    return 0
