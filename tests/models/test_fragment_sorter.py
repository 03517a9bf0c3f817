"""`FragmentSorter`: the SDK's fragments, as they come off the stream, into answer and reasoning events."""

from __future__ import annotations

import pytest
from lmstudio import LlmPredictionFragment

from mcp_lmstudio.models import GenerationResult, PromptProgress, TextFragment
from mcp_lmstudio.models.core import DEADLINE, FragmentSorter, QueueItem


def fragment(content: str, kind: str = "none", tokens: int = 1) -> LlmPredictionFragment:
    return LlmPredictionFragment(content=content, tokens_count=tokens, contains_drafted=False, reasoning_type=kind)


def test_a_batch_becomes_one_event_per_run_of_one_kind_with_the_count_at_its_end() -> None:
    sorter = FragmentSorter("m")
    batch: list[QueueItem] = [
        fragment("<think>", "reasoningStartTag"),
        fragment("a", "reasoning"),
        fragment("b", "reasoning", tokens=2),
        fragment("</think>", "reasoningEndTag"),
        fragment("c"),
        PromptProgress(1.0),
        fragment("d", tokens=3),
        fragment("e"),
    ]
    assert sorter.sort(batch) == [
        TextFragment("ab", True, 5),  # with the closing tag, counted before the answer begins
        TextFragment("c", False, 6),
        PromptProgress(1.0),
        TextFragment("de", False, 10),
    ]
    assert not sorter.ended
    assert sorter.sort([fragment("f"), None]) == [TextFragment("f", False, 11)] and sorter.ended
    result = sorter.result(None)
    assert isinstance(result, GenerationResult)
    assert (result.text, result.reasoning, result.stats.predicted_tokens) == ("cdef", "ab", 11)


def test_a_character_split_across_fragments_and_batches_comes_out_whole() -> None:
    sorter = FragmentSorter("m")
    high, low = "\ud83d", "\ude00"  # U+1F600 as two UTF-16 halves, as a byte-level tokenizer may split it
    first = sorter.sort([fragment("x"), fragment(high)])
    second = sorter.sort([fragment(low), None])
    assert "".join(event.text for event in first + second if isinstance(event, TextFragment)) == "x\U0001f600"
    assert sorter.result(None).text == "x\U0001f600"


def test_the_deadline_marker_ends_the_batch_keeping_the_text_before_it() -> None:
    sorter = FragmentSorter("m")
    with pytest.raises(TimeoutError):
        sorter.sort([fragment("kept"), DEADLINE, fragment("after")])
    partial = sorter.partial(None)
    assert partial is not None and (partial.text, partial.stop_reason) == ("kept", "timeout")


def test_a_fragment_kind_newer_than_the_sdk_keeps_its_text() -> None:
    sorter = FragmentSorter("m")
    assert sorter.sort([fragment("new", "someFutureKind"), None]) == [TextFragment("new", False, 1)]
