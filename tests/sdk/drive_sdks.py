#!/usr/bin/env python3
"""Drive the official Python SDKs through a running relaygate gateway.

Verified with (see tests/sdk/requirements.txt):
    anthropic==2.14.0
    openai==3.57.0
    google-genai==3.6.1
on Python 3.11.

Usage:
    python3 tests/sdk/drive_sdks.py --base-url http://127.0.0.1:28080 \
        --token rg-test-token-123 --mock-url http://127.0.0.1:29090

The gateway must be configured with channels pointing at relaygate-mock that
serve the models "claude-mock", "gpt-mock", "codex-mock" and "gemini-mock", and
with the client token given by --token. By default four channels are expected,
one per protocol (anthropic "claude-mock", openai "gpt-mock", responses
"codex-mock", gemini "gemini-mock") whose upstream keys are up-anthropic-1,
up-openai-1, up-responses-1 and up-gemini-1. When the channels are laid out
differently (for example one channel of a single protocol serving all four
models, so every SDK goes through protocol translation), pass the upstream keys
they use with --expect-keys KEY[,KEY...]: the final check then requires that
the mock saw only those keys and that each of them was used.

The usage check (OpenAI chat stream usage.total_tokens == 19) holds across
translation too: the mock always reports 12 input and 7 output tokens in its own
protocol, and the gateway must carry that total over.

Prints one line per check ("ok   NAME" or "FAIL NAME: detail"), then a single
summary line "N passed, M failed", and exits 1 if anything failed.

Only the standard library is used besides the three SDKs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
import urllib.parse
import urllib.request
from typing import Any, Callable

EXPECTED_TEXT = "Hello from the mock upstream."
EXPECTED_TOTAL_TOKENS = 19
CHANNEL_KEYS = {"up-anthropic-1", "up-openai-1", "up-responses-1", "up-gemini-1"}
TIMEOUT_S = 20.0

ANTHROPIC_MODEL = "claude-mock"
OPENAI_MODEL = "gpt-mock"
RESPONSES_MODEL = "codex-mock"
GEMINI_MODEL = "gemini-mock"


class CheckFailed(Exception):
    """A check ran to completion but the answer was wrong."""


def expect_eq(what: str, got: Any, want: Any) -> None:
    if got != want:
        raise CheckFailed(f"{what}: expected {want!r}, got {got!r}")


def expect(cond: bool, msg: str) -> None:
    if not cond:
        raise CheckFailed(msg)


def describe_exc(exc: BaseException) -> str:
    """One-line description of an exception, including HTTP details when the
    exception carries a response (SDK status errors do)."""
    parts = [f"{type(exc).__module__}.{type(exc).__name__}: {exc}"]
    code = getattr(exc, "code", None)
    if code is not None and not isinstance(exc, CheckFailed):
        parts.append(f"code={code!r}")
    resp = getattr(exc, "response", None)
    if resp is not None:
        try:
            req = getattr(resp, "request", None)
            if req is not None:
                parts.append(f"request={req.method} {req.url}")
            status = getattr(resp, "status_code", None)
            if status is not None:
                parts.append(f"status={status}")
            text = resp.text if hasattr(resp, "text") else None
            if isinstance(text, str):
                parts.append(f"body={text[:500]!r}")
        except Exception as inner:  # streaming responses may not be readable
            parts.append(f"(response unreadable: {inner!r})")
    cause = exc.__cause__ or exc.__context__
    if cause is not None and not isinstance(exc, CheckFailed):
        parts.append(f"caused by {type(cause).__name__}: {cause}")
    return " ".join(" | ".join(parts).split())  # keep it on one line


class Runner:
    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.passed = 0
        self.failed = 0

    def check(self, name: str, fn: Callable[[], None]) -> bool:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - every failure is reported
            self.failed += 1
            print(f"FAIL {name}: {describe_exc(exc)}", flush=True)
            if self.verbose and not isinstance(exc, CheckFailed):
                traceback.print_exc(file=sys.stdout)
            return False
        self.passed += 1
        print(f"ok   {name}", flush=True)
        return True


def add_no_proxy(*urls: str) -> None:
    """Make sure a proxy configured in the environment is never used for the
    local gateway or mock (httpx and urllib both honour NO_PROXY)."""
    hosts = {urllib.parse.urlsplit(u).hostname for u in urls}
    hosts.discard(None)
    for var in ("NO_PROXY", "no_proxy"):
        cur = [h for h in os.environ.get(var, "").split(",") if h]
        for h in sorted(hosts):
            if h not in cur:
                cur.append(h)
        os.environ[var] = ",".join(cur)


# --------------------------------------------------------------------------
# Client factories
# --------------------------------------------------------------------------


def anthropic_client(base: str, token: str):
    import anthropic

    return anthropic.Anthropic(
        base_url=base, api_key=token, max_retries=0, timeout=TIMEOUT_S
    )


def openai_client(base: str, token: str):
    import openai

    return openai.OpenAI(
        base_url=base + "/v1", api_key=token, max_retries=0, timeout=TIMEOUT_S
    )


def genai_client(base: str, token: str, api_version: str | None = None):
    """api_version=None keeps the SDK default (google-genai 3.6.1 uses "v1");
    "v1beta" exercises the gateway's /v1beta/models/... route."""
    from google import genai

    opts: dict[str, Any] = dict(
        base_url=base,
        timeout=int(TIMEOUT_S * 1000),  # milliseconds
        retry_options=genai.types.HttpRetryOptions(attempts=1),
    )
    if api_version is not None:
        opts["api_version"] = api_version
    return genai.Client(
        vertexai=False,
        api_key=token,
        http_options=genai.types.HttpOptions(**opts),
    )


USER_HI = [{"role": "user", "content": "hi"}]


# --------------------------------------------------------------------------
# Anthropic
# --------------------------------------------------------------------------


def anthropic_checks(r: Runner, base: str, token: str) -> None:
    client = anthropic_client(base, token)

    def nonstream() -> None:
        msg = client.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=64, messages=USER_HI
        )
        text = "".join(b.text for b in msg.content if b.type == "text")
        expect_eq("message text", text, EXPECTED_TEXT)

    def stream() -> None:
        with client.messages.stream(
            model=ANTHROPIC_MODEL, max_tokens=64, messages=USER_HI
        ) as s:
            streamed = "".join(s.text_stream)
            final = s.get_final_message()
        expect_eq("text_stream", streamed, EXPECTED_TEXT)
        final_text = "".join(b.text for b in final.content if b.type == "text")
        expect_eq("get_final_message() text", final_text, EXPECTED_TEXT)

    r.check("anthropic messages.create", nonstream)
    r.check("anthropic stream", stream)


# --------------------------------------------------------------------------
# OpenAI chat completions
# --------------------------------------------------------------------------


def openai_chat_checks(r: Runner, base: str, token: str) -> None:
    client = openai_client(base, token)

    def nonstream() -> None:
        resp = client.chat.completions.create(model=OPENAI_MODEL, messages=USER_HI)
        expect(len(resp.choices) >= 1, f"no choices in {resp!r}")
        expect_eq("message content", resp.choices[0].message.content, EXPECTED_TEXT)

    def stream() -> None:
        stream = client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=USER_HI,
            stream=True,
            stream_options={"include_usage": True},
        )
        parts: list[str] = []
        usage = None
        n_chunks = 0
        for chunk in stream:
            n_chunks += 1
            for choice in chunk.choices:
                if choice.delta is not None and choice.delta.content:
                    parts.append(choice.delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
        expect_eq("joined deltas", "".join(parts), EXPECTED_TEXT)
        expect(usage is not None, f"no usage chunk among {n_chunks} chunks")
        expect_eq("usage.total_tokens", usage.total_tokens, EXPECTED_TOTAL_TOKENS)

    def default_stream() -> None:
        # The SDK's default: no stream_options. The gateway asks the upstream for usage (to
        # bill it) and takes the usage chunk out, so the client sees what it asked for.
        stream = client.chat.completions.create(
            model=OPENAI_MODEL, messages=USER_HI, stream=True
        )
        parts: list[str] = []
        for chunk in stream:
            expect(chunk.usage is None, f"usage chunk the client did not ask for: {chunk!r}")
            expect(len(chunk.choices) >= 1, f"chunk without choices: {chunk!r}")
            for choice in chunk.choices:
                if choice.delta is not None and choice.delta.content:
                    parts.append(choice.delta.content)
        expect_eq("joined deltas", "".join(parts), EXPECTED_TEXT)

    r.check("openai chat.completions.create", nonstream)
    r.check("openai chat stream", stream)
    r.check("openai chat default stream (no stream_options)", default_stream)


# --------------------------------------------------------------------------
# OpenAI Responses
# --------------------------------------------------------------------------


def openai_responses_checks(r: Runner, base: str, token: str) -> None:
    client = openai_client(base, token)

    def nonstream() -> None:
        resp = client.responses.create(model=RESPONSES_MODEL, input="hi")
        expect_eq("output_text", resp.output_text, EXPECTED_TEXT)

    def stream() -> None:
        events = client.responses.create(model=RESPONSES_MODEL, input="hi", stream=True)
        deltas: list[str] = []
        types: list[str] = []
        completed = None
        for ev in events:
            types.append(ev.type)
            if ev.type == "response.output_text.delta":
                deltas.append(ev.delta)
            elif ev.type == "response.completed":
                completed = ev
        expect_eq(
            f"joined response.output_text.delta (events: {types})",
            "".join(deltas),
            EXPECTED_TEXT,
        )
        expect(completed is not None, f"no response.completed event; got {types}")
        expect_eq(
            "response.completed output_text",
            completed.response.output_text,
            EXPECTED_TEXT,
        )

    r.check("openai responses.create", nonstream)
    r.check("openai responses stream", stream)


# --------------------------------------------------------------------------
# Google GenAI
# --------------------------------------------------------------------------


def genai_checks(
    r: Runner, base: str, token: str, api_version: str | None = None
) -> None:
    client = genai_client(base, token, api_version)
    suffix = f" ({api_version})" if api_version else ""

    def nonstream() -> None:
        resp = client.models.generate_content(model=GEMINI_MODEL, contents="hi")
        expect_eq("text", resp.text, EXPECTED_TEXT)

    def stream() -> None:
        parts: list[str] = []
        n = 0
        for chunk in client.models.generate_content_stream(
            model=GEMINI_MODEL, contents="hi"
        ):
            n += 1
            if chunk.text:
                parts.append(chunk.text)
        expect(n > 0, "stream produced no chunks")
        expect_eq(f"joined chunk text ({n} chunks)", "".join(parts), EXPECTED_TEXT)

    r.check("genai generate_content" + suffix, nonstream)
    r.check("genai generate_content_stream" + suffix, stream)


# --------------------------------------------------------------------------
# Local token counting (answered by the gateway, never by an upstream)
# --------------------------------------------------------------------------


def count_checks(r: Runner, base: str, token: str) -> None:
    """Each SDK's count call, with a request whose count its provider published:
    Anthropic's token-counting docs give 14 for this system prompt and message,
    Google's samples give 11 for the fox sentence. The Responses count follows the
    chat rule (3 per message, the role, the text, 3 to prime the reply) on o200k:
    "Tell me a joke." is 5 tokens, so 12."""
    anth = anthropic_client(base, token)
    oai = openai_client(base, token)

    def anthropic_count() -> None:
        got = anth.messages.count_tokens(
            model=ANTHROPIC_MODEL,
            system="You are a scientist",
            messages=[{"role": "user", "content": "Hello, Claude"}],
        )
        expect_eq("input_tokens", got.input_tokens, 14)

    def responses_count() -> None:
        got = oai.responses.input_tokens.count(
            model=RESPONSES_MODEL, input="Tell me a joke."
        )
        expect_eq("object", got.object, "response.input_tokens")
        expect_eq("input_tokens", got.input_tokens, 12)

    def genai_count(api_version: str | None) -> Callable[[], None]:
        def check() -> None:
            client = genai_client(base, token, api_version)
            got = client.models.count_tokens(
                model=GEMINI_MODEL,
                contents="The quick brown fox jumps over the lazy dog.",
            )
            expect_eq("total_tokens", got.total_tokens, 11)

        return check

    r.check("anthropic messages.count_tokens", anthropic_count)
    r.check("openai responses.input_tokens.count", responses_count)
    r.check("genai count_tokens", genai_count(None))
    r.check("genai count_tokens (v1beta)", genai_count("v1beta"))


# --------------------------------------------------------------------------
# Wrong token
# --------------------------------------------------------------------------


def expect_raises(exc_type: type, call: Callable[[], Any], extra=None) -> None:
    try:
        result = call()
    except exc_type as exc:
        if extra is not None:
            extra(exc)
        return
    raise CheckFailed(
        f"expected {exc_type.__module__}.{exc_type.__name__}, call returned {result!r}"
    )


def wrong_token_checks(r: Runner, base: str, bad: str) -> None:
    import anthropic
    import openai
    from google.genai import errors as genai_errors

    a = anthropic_client(base, bad)
    o = openai_client(base, bad)
    g = genai_client(base, bad)

    def status_401(exc) -> None:
        expect_eq("status_code", exc.status_code, 401)

    def code_401(exc) -> None:
        expect_eq("ClientError.code", exc.code, 401)

    def anth_stream() -> None:
        with a.messages.stream(
            model=ANTHROPIC_MODEL, max_tokens=64, messages=USER_HI
        ) as s:
            return s.get_final_message()

    def oai_stream() -> None:
        return list(
            o.chat.completions.create(model=OPENAI_MODEL, messages=USER_HI, stream=True)
        )

    def gem_stream() -> None:
        return list(g.models.generate_content_stream(model=GEMINI_MODEL, contents="hi"))

    r.check(
        "wrong token anthropic messages.create",
        lambda: expect_raises(
            anthropic.AuthenticationError,
            lambda: a.messages.create(
                model=ANTHROPIC_MODEL, max_tokens=64, messages=USER_HI
            ),
            status_401,
        ),
    )
    r.check(
        "wrong token anthropic stream",
        lambda: expect_raises(anthropic.AuthenticationError, anth_stream, status_401),
    )
    r.check(
        "wrong token openai chat.completions.create",
        lambda: expect_raises(
            openai.AuthenticationError,
            lambda: o.chat.completions.create(model=OPENAI_MODEL, messages=USER_HI),
            status_401,
        ),
    )
    r.check(
        "wrong token openai chat stream",
        lambda: expect_raises(openai.AuthenticationError, oai_stream, status_401),
    )
    r.check(
        "wrong token openai responses.create",
        lambda: expect_raises(
            openai.AuthenticationError,
            lambda: o.responses.create(model=RESPONSES_MODEL, input="hi"),
            status_401,
        ),
    )
    r.check(
        "wrong token genai generate_content",
        lambda: expect_raises(
            genai_errors.ClientError,
            lambda: g.models.generate_content(model=GEMINI_MODEL, contents="hi"),
            code_401,
        ),
    )
    r.check(
        "wrong token genai generate_content_stream",
        lambda: expect_raises(genai_errors.ClientError, gem_stream, code_401),
    )


# --------------------------------------------------------------------------
# Mock request log
# --------------------------------------------------------------------------


def fetch_mock_requests(mock_url: str) -> tuple[str, list[dict]]:
    url = mock_url.rstrip("/") + "/_mock/requests"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=TIMEOUT_S) as resp:
        raw = resp.read().decode("utf-8")
    data = json.loads(raw)
    if not isinstance(data, list):
        raise CheckFailed(f"{url} did not return a JSON list: {raw[:300]!r}")
    return raw, data


def never_forwarded(
    r: Runner, mock_url: str, what: str, calls: Callable[[], None]
) -> None:
    """Runs `calls` and checks that the mock's request log did not grow meanwhile."""
    before: int | None = None
    try:
        before = len(fetch_mock_requests(mock_url)[1])
    except Exception:
        pass
    calls()

    def check() -> None:
        expect(before is not None, "mock log unreadable before")
        _, now = fetch_mock_requests(mock_url)
        new = now[before:]
        expect(not new, f"{what} reached the mock: {json.dumps(new)[:500]}")

    r.check(f"{what} never reach upstream", check)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", required=True, help="gateway base URL")
    ap.add_argument("--token", required=True, help="gateway client token")
    ap.add_argument("--mock-url", required=True, help="relaygate-mock base URL")
    ap.add_argument(
        "--expect-keys",
        default=",".join(sorted(CHANNEL_KEYS)),
        metavar="KEY[,KEY...]",
        help="upstream channel keys the mock may see; each must be used during the run "
        "(default: the four per-protocol channel keys)",
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="print tracebacks")
    args = ap.parse_args(argv)
    expected_keys = {k.strip() for k in args.expect_keys.split(",") if k.strip()}
    if not expected_keys:
        ap.error("--expect-keys needs at least one key")

    base = args.base_url.rstrip("/")
    token = args.token
    add_no_proxy(base, args.mock_url)

    r = Runner(args.verbose)

    # Requests already in the mock log before we start (e.g. from other tests).
    before: list[dict] = []

    def mock_reachable() -> None:
        nonlocal before
        _, before = fetch_mock_requests(args.mock_url)

    r.check("mock request log reachable", mock_reachable)

    sdk_ok = True
    try:
        import anthropic  # noqa: F401
        import openai  # noqa: F401
        from google import genai  # noqa: F401
    except ImportError as exc:
        sdk_ok = False
        r.check("import SDKs", lambda: (_ for _ in ()).throw(exc))

    if sdk_ok:
        anthropic_checks(r, base, token)
        openai_chat_checks(r, base, token)
        openai_responses_checks(r, base, token)
        genai_checks(r, base, token)
        genai_checks(r, base, token, "v1beta")

        # Counting is local, and a wrong token is refused at the gateway: neither
        # may reach the upstream.
        never_forwarded(
            r, args.mock_url, "count calls", lambda: count_checks(r, base, token)
        )
        never_forwarded(
            r,
            args.mock_url,
            "wrong-token calls",
            lambda: wrong_token_checks(r, base, token + "-wrong"),
        )

    def mock_keys() -> None:
        raw, reqs = fetch_mock_requests(args.mock_url)
        expect(token not in raw, f"gateway token found in mock log: {raw[:800]}")
        bad_entries = [
            q for q in reqs if not isinstance(q, dict) or q.get("key") not in expected_keys
        ]
        expect(
            not bad_entries,
            f"{len(bad_entries)} mock request(s) without a channel key: "
            f"{json.dumps(bad_entries)[:800]}",
        )
        new = reqs[len(before):]
        seen = {q.get("key") for q in new}
        missing = expected_keys - seen
        expect(
            not missing,
            f"no upstream request during this run used {sorted(missing)}; "
            f"new requests: {json.dumps(new)[:800]}",
        )

    r.check("mock saw only channel keys", mock_keys)

    print(f"{r.passed} passed, {r.failed} failed", flush=True)
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
