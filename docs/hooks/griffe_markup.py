"""Griffe extension of the OpenEIE API reference: the reStructuredText markup of the docstrings, as Markdown.

The docstrings are numpydoc, whose free text uses Sphinx roles (``:func:`pack_table```), literal blocks after
``::`` and simple tables between ``====`` rules. mkdocstrings renders docstrings as Markdown, so before they are
rendered (nothing in the source changes):

* a role becomes a cross-reference to the object it names, resolved in the docstring's scope, written as an
  *optional* autoref: a link when the object is on some page of the reference, plain code otherwise;
* a line ending in ``::`` ends in ``:`` (its indented block is a Markdown code block already), and the
  continuation lines of a numbered list are indented by 4 instead of 3;
* a module or class attribute documented by ``#:`` comments (Sphinx's convention) gets them as its docstring;
* a simple table becomes a Markdown table; a run of ````name``  text`` definition lines is kept as
  preformatted text.
"""

from __future__ import annotations

import html
import re

import griffe

_ROLE = re.compile(r":(?:py:)?(func|class|mod|attr|data|meth|exc|obj|const):`(~?)([^`<>]+?)`")
_RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")
_NUMBERED = re.compile(r"^\d+\. ")
_DEFINITION = re.compile(r"^``[^`]+``\s{2,}\S")


def _resolve(obj: griffe.Object, target: str) -> str:
    if target.startswith("openeie."):
        return target
    first, _, rest = target.partition(".")
    try:
        full = obj.resolve(first)
    except (griffe.NameResolutionError, AttributeError, KeyError):
        return target
    return f"{full}.{rest}" if rest else full


def roles_to_autorefs(text: str, resolve) -> str:
    """Sphinx roles as optional autorefs; ``resolve(target)`` gives a role target's full dotted path."""
    def shown(m: re.Match) -> str:
        target = re.sub(r"\s+", "", m.group(3))
        return target.rsplit(".", 1)[-1] if m.group(2) else target

    def link(m: re.Match) -> str:
        identifier = resolve(re.sub(r"\s+", "", m.group(3)))
        return (f'<autoref identifier="{html.escape(identifier, quote=True)}" optional>'
                f"<code>{html.escape(shown(m))}</code></autoref>")

    # Roles may wrap across lines: substitute in whole runs of lines outside fenced blocks.
    out, run, in_fence = [], [], False
    for line in text.split("\n") + ["```"]:
        if line.lstrip().startswith("```"):
            if not in_fence:
                out.append(_ROLE.sub(link, "\n".join(run)))
                run = []
            in_fence = not in_fence
            out.append(line)
        elif in_fence:
            out.append(_ROLE.sub(shown, line).replace("``", ""))
        else:
            run.append(line)
    return "\n".join(out[:-1])


def _unquote(line: str) -> str:
    """A definition line without its ````code```` markers; the name is padded so that the columns stay aligned."""
    line = re.sub(r"^``([^`]+)``(?= )", r"\1    ", line)
    return line.replace("``", "")


def _list_indents(lines: list[str]) -> list[str]:
    """Continuation lines of a numbered list, indented by 3 as in reST, indented by 4 as Markdown needs."""
    out, in_list = [], False
    for line in lines:
        if _NUMBERED.match(line):
            if in_list and out and out[-1].strip():
                out.append("")                   # Python-Markdown starts an item after a paragraph only so
            in_list = True
        elif in_list and line.strip() and not line.startswith("   "):
            in_list = False
        out.append(" " + line if in_list and line.startswith("   ") else line)
    return out


def _simple_table(lines: list[str]) -> list[str]:
    """A reST simple table (rule, header, rule, rows, rule) as a Markdown table; a row whose first column is
    blank continues the row above it."""
    spans = [m.span() for m in re.finditer(r"=+", lines[0])]

    def cells(line: str) -> list[str]:
        cuts = [0]
        for a, _ in spans[1:]:                   # text running past its column moves the cut to the next blank
            cut = max(a, cuts[-1])
            while 0 < cut < len(line) and line[cut - 1] != " ":
                cut += 1
            cuts.append(cut)
        return [line[a:b].strip() for a, b in zip(cuts, cuts[1:] + [len(line)])]

    rules = [k for k, line in enumerate(lines) if _RULE.match(line)]
    header = [cells(line) for line in lines[rules[0] + 1:rules[1]]]
    rows: list[list[str]] = []
    for line in lines[rules[1] + 1:rules[2]]:
        if not line.strip():
            continue
        row = cells(line)
        if rows and not row[0]:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], row)]
        else:
            rows.append(row)
    head = [" ".join(col).strip() for col in zip(*header)] if header else [""] * len(spans)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(spans)]
    return out + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]


def preformat_blocks(text: str) -> str:
    lines = _list_indents(text.split("\n"))
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if _RULE.match(line):                                   # simple table: three rules
            j, rules = i, 0
            while j < len(lines) and rules < 3:
                rules += bool(_RULE.match(lines[j]))
                j += 1
            out += ["", *_simple_table(lines[i:j]), ""]
            i = j
            continue
        if _DEFINITION.match(line) and i + 1 < len(lines) and (
                _DEFINITION.match(lines[i + 1]) or lines[i + 1].startswith(" " * 8)):
            j = i + 1
            while j < len(lines) and (_DEFINITION.match(lines[j]) or lines[j].startswith(" " * 8)):
                j += 1
            out += ["", "```text", *(_unquote(ln) for ln in lines[i:j]), "```", ""]
            i = j
            continue
        out.append(re.sub(r"\s*::$", ":", line) if line.rstrip().endswith("::") else line)
        i += 1
    return "\n".join(out)


def markdown_of(docstring: str, resolve) -> str:
    """A docstring's free text as Markdown (see the module docstring)."""
    return roles_to_autorefs(preformat_blocks(docstring), resolve)


def _doc_comment(attr: griffe.Object) -> str:
    """The ``#:`` comment lines just above an attribute (or after it on its line), as Sphinx reads them."""
    try:
        lines = attr.module.lines
    except (AttributeError, KeyError, ValueError):
        return ""
    if not lines or not attr.lineno:
        return ""
    own = lines[attr.lineno - 1]
    if "#: " in own:
        return own.split("#: ", 1)[1].strip()
    out, i = [], attr.lineno - 2
    while i >= 0 and lines[i].strip().startswith("#:"):
        out.insert(0, lines[i].strip()[2:].strip())
        i -= 1
    return "\n".join(out)


class RstMarkup(griffe.Extension):
    """Rewrite every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.is_attribute and obj.docstring is None:
                comment = _doc_comment(obj)
                if comment:
                    obj.docstring = griffe.Docstring(comment, parent=obj)
            if obj.docstring is not None:
                obj.docstring.value = markdown_of(obj.docstring.value, lambda target, o=obj: _resolve(o, target))
            stack += [m for m in obj.members.values() if not m.is_alias]
