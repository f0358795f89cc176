"""The requests the README and docs/ show are requests the contract accepts: a newcomer pasting
one gets an answer, not a 422 for a parameter the text left out, and a reference line names an
operation that exists."""

from __future__ import annotations

import functools
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from services.cli.main import ROOT

DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
# A reference line in prose or a table: `GET /v1/meetings/{id}?expand=items`, and its
# shorthand: `GET|PUT /v1/professions[/{code}]`, `/v1/me/subscriptions/items/{action|plan}/{id}`.
_METHOD = "(?:GET|POST|PUT|PATCH|DELETE)"
_REFERENCE = re.compile(rf"\b({_METHOD}(?:\|{_METHOD})*) +(/v1/(?:\{{[^}}\s]*\}}|[^\s`)|{{])*)")
# Sentence punctuation after a path is not part of it (`:batch` and `:generate` are).
_TRAILING = ".,;"


@dataclass(frozen=True)
class Request:
    where: str
    # One method, or a reference's several (`GET|PUT`): each must be an operation on one of
    # the paths the line names.
    method: str
    # With a reference's optional segments (`[/{code}]`) as written.
    url: str
    # A curl command is meant to be pasted and run: its query must be complete. A reference
    # line names the operation and maybe a parameter or two.
    runnable: bool


def _words(line: str) -> list[str] | None:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.commenters = "#"
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return None


def _curl_commands(text: str) -> list[tuple[int, list[str]]]:
    """Each curl command's words with its line number, continuation lines joined, up to the
    shell's next `|`, `;`, `&&` or `)` outside quotes."""
    commands: list[tuple[int, list[str]]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        while line.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line.rstrip()[:-1] + " " + lines[i]
        i += 1
        words = _words(line)
        # A quoted JSON body over several lines: the command ends where its quote closes.
        end = i
        while words is None and "curl" in line and end < min(i + 40, len(lines)):
            line += "\n" + lines[end]
            end += 1
            words = _words(line)
        if words is None:  # prose with an apostrophe, not a command
            continue
        if "curl" in line:
            i = end
        command: list[str] | None = None
        for word in words:
            if command is None:
                command = [] if word == "curl" else None
            elif word and set(word) <= set("();<>|&"):
                commands.append((start + 1, command))
                command = [] if word == "curl" else None
            else:
                command.append(word)
        if command is not None:
            commands.append((start + 1, command))
    return commands


def _curl_request(where: str, words: list[str]) -> Request | None:
    method = "GET"
    url = None
    for k, word in enumerate(words):
        if word in ("-X", "--request") and k + 1 < len(words):
            method = words[k + 1].upper()
        elif word in ("-d", "--data", "--data-binary", "-F", "-T") and method == "GET":
            method = "POST" if word != "-T" else "PUT"
        elif "/v1/" in word and url is None:
            url = word[word.index("/v1/") :]
    return Request(where, method, url, runnable=True) if url else None


def _requests() -> list[Request]:
    found: list[Request] = []
    for doc in DOCS:
        text = doc.read_text()
        name = doc.relative_to(ROOT)
        for number, command in _curl_commands(text):
            request = _curl_request(f"{name}:{number}", command)
            if request:
                found.append(request)
        for number, line in enumerate(text.splitlines(), 1):
            if "curl" in line:
                continue
            for method, url in _REFERENCE.findall(line):
                found.append(Request(f"{name}:{number}", method, url.rstrip(_TRAILING), False))
    return found


@functools.cache
def _contract() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    return spec


def _operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    for template, operations in spec["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in operations:
            return operations[method.lower()]  # type: ignore[no-any-return]
    return None


REQUESTS = _requests()


def test_the_docs_show_requests() -> None:
    # The scan itself works: the README's tour alone has a dozen curl commands.
    assert sum(r.runnable for r in REQUESTS) >= 10
    assert sum(not r.runnable for r in REQUESTS) >= 50


def _variants(path: str) -> list[str]:
    """A path with its optional segments (`/v1/professions[/{code}]`) left out and put in."""
    match = re.search(r"\[([^\]]*)\]", path)
    if not match:
        return [path]
    before, after = path[: match.start()], path[match.end() :]
    return [*_variants(before + after), *_variants(before + match[1] + after)]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r.where} {r.method}")
def test_a_documented_request_is_one_the_contract_accepts(request_: Request) -> None:
    spec = _contract()
    parts = urlsplit(request_.url)
    given = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    methods = request_.method.split("|")
    paths = _variants(parts.path)
    found = {(m, p): _operation(spec, m, p) for m in methods for p in paths}
    for method in methods:
        assert any(found[method, p] for p in paths), (
            f"{request_.where}: {method} {parts.path} is no operation of the contract"
        )
    for path in paths:
        assert any(found[m, path] for m in methods), (
            f"{request_.where}: {request_.method} {path} is no operation of the contract"
        )
    for operation in filter(None, found.values()):
        declared = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        unknown = given - set(declared)
        assert not unknown, (
            f"{request_.where}: {sorted(unknown)} are not parameters of {parts.path}"
        )
        if request_.runnable:
            missing = {n for n, p in declared.items() if p.get("required")} - given
            assert not missing, f"{request_.where}: the request leaves out {sorted(missing)}"


def test_the_scan_finds_what_a_request_leaves_out_and_reads_commands_as_the_shell_does() -> None:
    spec = _contract()
    operation = _operation(spec, "GET", "/v1/org-units/REG/scorecard")
    assert operation is not None
    required = {p["name"] for p in operation["parameters"] if p.get("required")}
    assert "period" in required
    [(_, words)] = _curl_commands('curl -H "$H" "$API/v1/org-units/REG/scorecard"  # all')
    assert _curl_request("x", words) == Request("x", "GET", "/v1/org-units/REG/scorecard", True)
    assert _variants("/v1/professions[/{code}]") == ["/v1/professions", "/v1/professions/{code}"]
    text = "X=$(curl -s \\\n  -d '{}' \"$API/v1/x?a=$((Y - 1))\" | jq)"
    assert [words for _, words in _curl_commands(text)] == [
        ["-s", "-d", "{}", "$API/v1/x?a=$((Y - 1))"]
    ]
