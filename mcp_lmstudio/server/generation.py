"""One generation call from tool arguments to `CallToolResult`: files read, the conversation continued, the
model's events relayed as progress, the answer written to `output_file`, the turn stored.

Order matters for what a failure costs: everything the caller can get wrong (files, `output_file`,
`previous_response_id`) is checked before LM Studio is asked for anything, and the answer is written and
stored only after it is complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent

from ..errors import (
    ContextOverflowError,
    GenerationTimeoutError,
    InvalidInputError,
    LMStudioUnavailableError,
    McpLmStudioError,
)
from ..files import FileBundle, WrittenFile, receipt
from ..models.events import GenerationResult, TextFragment
from ..models.think_first import think_first_events
from ..text import plural
from ..types import Chat, Image, JsonSchema
from .arguments import GenerationRequest
from .call_log import note_generation
from .conversations import Continuation, continuation_for, owner_of, save_chat, save_turn
from .file_context import narrowed_by_roots, output_target, read_for_call, with_files, write_output
from .progress import ProgressReporter
from .state import AppState
from .tasks import task_time_limit
from .wording import TASK_TIMEOUT_FLAGS, TIMEOUT_FLAGS, tool_message

__all__ = ["REFERENCES_META", "ByReference", "run_generation"]

#: Marks the last text content that names `response_id` and the files read (for hosts that show the model only
#: text): a client that wants the answer alone skips the block carrying this `_meta` key.
REFERENCES_META = "io.github.mcp-lmstudio/references"


@dataclass(frozen=True, slots=True)
class ByReference:
    """What a call hands over by reference rather than by content: a system prompt, files to read, a file to
    write the answer to, and the response it continues."""

    system: str | None = None
    files: list[str] | None = None
    output_file: str | None = None
    overwrite: bool = False
    previous_response_id: str | None = None


#: Builds the tool result from the finished generation (the JSON check of structured_generate happens here).
Finisher = Callable[[GenerationResult], CallToolResult]


async def run_generation(
    ctx: Context[AppState, Any],
    request: GenerationRequest,
    by_reference: ByReference,
    finish: Finisher,
    *,
    stream_text: bool,
    output_type: JsonSchema | None = None,
    think_first: bool = False,
) -> CallToolResult:
    """Run one generation tool call; see the module docstring for the order of its steps."""
    state = ctx.request_context.lifespan_context
    if by_reference.system is not None and isinstance(request.model_input, Chat):
        raise _system_with_messages()
    continuation = await continuation_for(
        state.history, by_reference.previous_response_id, owner_of(ctx.request_context.request), request.model_input
    )
    access = state.file_access
    if by_reference.files or by_reference.output_file:
        access = await narrowed_by_roots(access, ctx.request_context.session)
    bundle = await read_for_call(access, by_reference.files)
    target = await output_target(access, by_reference.output_file, overwrite=by_reference.overwrite)
    user_turn = with_files(request.model_input, bundle)
    system = by_reference.system if by_reference.system is not None else continuation.system
    call = dataclasses.replace(
        request, model_input=_conversation(system, continuation, user_turn), model=request.model or continuation.model
    )
    try:
        result = await generate(ctx, call, stream_text=stream_text, output_type=output_type, think_first=think_first)
    except ContextOverflowError as exc:
        if continuation.turns:
            raise _history_overflow(exc, len(continuation.turns)) from exc
        if bundle is not None and bundle.texts:
            raise await _files_overflow(ctx, exc, bundle, call.model) from exc
        raise
    tool_result = finish(result)
    written = None
    # A partial answer (the time limit ended the call) is returned, never written: nothing is left behind.
    if target is not None and result.stop_reason != "timeout":
        written = await write_output(access, target, result.text, overwrite=by_reference.overwrite)
    if isinstance(user_turn, Chat):
        owner = owner_of(ctx.request_context.request)
        response_id = await save_chat(state.history, owner, user_turn, model=result.model, answer=result.text)
    else:
        response_id = await save_turn(
            state.history, continuation, system=system, user_turn=user_turn, model=result.model, answer=result.text
        )
    # The closing note costs the host a few tokens: it comes once the caller uses what it names.
    noted = by_reference.files or by_reference.output_file or by_reference.previous_response_id
    return _with_references(tool_result, result.text, response_id, bundle, written, note=bool(noted))


def _system_with_messages() -> InvalidInputError:
    return InvalidInputError("`system` goes with `prompt`; with `messages`, make the first message the system turn.")


def time_limit_of(ctx: Context[AppState, Any]) -> tuple[float, str] | None:
    """The call's time limit in seconds and the flags that set it (a task's own, else the session's)."""
    in_task = task_time_limit()
    if in_task is not None:
        return in_task, TASK_TIMEOUT_FLAGS
    limit = ctx.request_context.lifespan_context.session.timeout
    return None if limit is None else (limit, TIMEOUT_FLAGS)


#: How many of the largest files an overflow error names with their token counts (one count request each).
LARGEST_FILES_NAMED = 5


async def _files_overflow(
    ctx: Context[AppState, Any], exc: ContextOverflowError, bundle: FileBundle, model: str | None
) -> InvalidInputError:
    """The overflow error with the largest files read and their tokens, by the model's tokenizer."""
    largest = sorted(bundle.texts, key=lambda item: len(item[1]), reverse=True)[:LARGEST_FILES_NAMED]
    model_layer = await ctx.request_context.lifespan_context.session.model()
    try:
        counts = await model_layer.count_tokens([text for _, text in largest], model=model, timeout=30)
    except McpLmStudioError:  # the refusal stands without the per-file figures
        return InvalidInputError(tool_message(exc))
    named = ", ".join(f"{path} ({count:,} tokens)" for (path, _), count in zip(largest, counts, strict=True))
    more = f" of {len(bundle.texts)} files read" if len(bundle.texts) > len(largest) else ""
    return InvalidInputError(
        f"{tool_message(exc)} The largest files{more}: {named}. Name fewer files or narrower globs, or ask about "
        "one part at a time (previous_response_id keeps the conversation)."
    )


def _history_overflow(exc: ContextOverflowError, turns: int) -> InvalidInputError:
    return InvalidInputError(
        f"{tool_message(exc)} The conversation being continued holds {plural(turns, 'earlier turn')}, replayed in "
        "full: start a new conversation (call without previous_response_id, with a summary of what matters), use "
        "a model loaded with a longer context, or pass context_overflow 'rolling_window' (LM Studio drops the oldest "
        "turns) or 'truncate_middle'."
    )


def _conversation(
    system: str | None, continuation: Continuation, user_turn: str | list[str | Image] | Chat
) -> str | list[str | Image] | Chat:
    """The model input: the system prompt, the stored turns, then the new user turn (as given when alone)."""
    if isinstance(user_turn, Chat) or (system is None and not continuation.turns):
        return user_turn
    head = [{"role": "system", "content": system}] if system is not None else []
    return Chat([*head, *continuation.messages(), {"role": "user", "content": user_turn}])


def _with_references(
    result: CallToolResult,
    text: str,
    response_id: str | None,
    bundle: FileBundle | None,
    written: WrittenFile | None,
    *,
    note: bool,
) -> CallToolResult:
    """`result` with `response_id`, `files` and `output_file` added, and a receipt in place of a written answer.

    `generate`'s structured content is an object of ours and takes the fields; `structured_generate`'s is the
    caller's JSON, so there they go in `_meta`. With `note`, the last text content names them for hosts that
    show the model only the text.
    """
    references: dict[str, Any] = {}
    if response_id is not None:
        references["response_id"] = response_id
    if bundle is not None:
        references["files"] = bundle.to_dicts()
    if written is not None:
        references["output_file"] = written.to_dict()
    content = list(result.content)
    if written is not None:
        content[0] = TextContent(type="text", text=receipt(written, text))
    summary = _summary(response_id, bundle) if note else None
    if summary:
        content.append(TextContent(type="text", text=summary, _meta={REFERENCES_META: True}))
    structured = result.structured_content
    meta = dict(result.meta or {})
    if structured is not None and "stats" in structured and "model" in structured:
        structured = {**structured, **references}
        if written is not None:
            structured["text"] = content[0].text  # type: ignore[union-attr]
    else:
        meta.update(references)
    return result.model_copy(update={"content": content, "structured_content": structured, "meta": meta or None})


def _summary(response_id: str | None, bundle: FileBundle | None) -> str | None:
    parts = []
    if bundle is not None:
        read = sum(record.status == "read" for record in bundle.records)
        skipped = len(bundle.records) - read
        parts.append(
            f"files: {read} read" + (f", {skipped} skipped (see files in the structured result)" if skipped else "")
        )
        parts.extend(bundle.notes)
    if response_id is not None:
        parts.append(f"response_id: {response_id} (pass it as previous_response_id to follow up)")
    return "[" + "; ".join(parts) + "]" if parts else None


async def generate(
    ctx: Context[AppState, Any],
    request: GenerationRequest,
    *,
    stream_text: bool,
    output_type: JsonSchema | None = None,
    think_first: bool = False,
) -> GenerationResult:
    """Run the model layer's events for `request`, relaying progress; return the final result."""
    session = ctx.request_context.lifespan_context.session
    model_layer = await session.model()
    # A task has no one to stream to (its status message carries the progress), and has its own time limit.
    time_limit = task_time_limit()
    reporter = ProgressReporter(ctx, stream_text=stream_text and time_limit is None)
    # Text is only reported once per interval: fragments that come within one arrive merged (the first at once).
    if think_first and output_type is not None:
        events = think_first_events(
            model_layer,
            request.model_input,
            output_type,
            config=request.config,
            model=request.model,
            timeout=time_limit,
            text_interval=reporter.interval,
        )
    else:
        events = model_layer.stream_events(
            request.model_input,
            output_type,
            config=request.config,
            model=request.model,
            timeout=time_limit,
            text_interval=reporter.interval,
        )
    try:
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, TextFragment):  # one per `text_interval` at most: each is reported
                    reporter.take_fragment(event)
                    await reporter.flush()
                elif isinstance(event, GenerationResult):
                    note_generation(event)
                    await reporter.flush()
                    return event
                else:
                    await reporter.on_event(event)
    except LMStudioUnavailableError:
        session.connection_lost(model_layer)
        raise
    except GenerationTimeoutError as exc:
        # A plain generation keeps what it wrote: the text comes back with a note (`cut_off_note`). JSON cut
        # off is no answer at all, so structured output stays an error.
        if exc.partial is not None and exc.partial.text and output_type is None:
            return cast(GenerationResult, exc.partial)
        raise
    raise AssertionError("the model layer ended a generation without a result")  # pragma: no cover
