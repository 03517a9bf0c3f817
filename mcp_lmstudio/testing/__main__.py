"""`python -m mcp_lmstudio.testing`: serve the LM Studio emulator until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import sys

from ._auth import split_api_token
from ._catalog import DEFAULT_MODELS, load_models_file
from ._emulator import LMStudioEmulator
from ._records import Reply


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m mcp_lmstudio.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=1234, help="port to listen on (default 1234; 0 picks one)")
    parser.add_argument(
        "--models",
        metavar="FILE",
        default=None,
        help='JSON array of LM Studio ModelInfo objects, each with optional "loaded": true (default: demo models)',
    )
    parser.add_argument("--reply", default=None, help="fixed reply text (default: echo the prompt)")
    parser.add_argument("--reasoning", default="", help="reasoning text emitted before each reply")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between tokens")
    parser.add_argument("--prompt-delay", type=float, default=0.0, help="seconds of prompt processing")
    parser.add_argument("--load-delay", type=float, default=0.0, help="seconds a model load takes")
    parser.add_argument(
        "--api-token",
        type=_api_token,
        default=None,
        help="require this LM Studio API token (sk-lm-XXXXXXXX:YYYY...)",
    )
    parser.add_argument("--max-parallel", type=int, default=None, help="predictions run at once (default unlimited)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        taken = " (LM Studio's own server listens there by default)" if args.port == 1234 else ""
        print(
            f"Port {args.port} on {args.host} is already in use{taken}. Pass another with --port N, or --port 0 "
            "for any free port.",
            file=sys.stderr,
        )
        sys.exit(1)


def _api_token(value: str) -> str:
    try:
        split_api_token(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


async def _serve(args: argparse.Namespace) -> None:
    reply = Reply(args.reply, args.reasoning) if args.reply is not None else None
    emulator = LMStudioEmulator(
        host=args.host,
        port=args.port,
        models=load_models_file(args.models) if args.models else DEFAULT_MODELS,
        reply=reply,
        token_delay=args.token_delay,
        prompt_processing_delay=args.prompt_delay,
        load_delay=args.load_delay,
        api_token=args.api_token,
        max_parallel_predictions=args.max_parallel,
    )
    async with emulator:
        print(f"LM Studio emulator listening on {emulator.api_host} (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    main()
