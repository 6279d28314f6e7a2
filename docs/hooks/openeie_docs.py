"""MkDocs hook of the OpenEIE documentation: pages generated from the code, text included from the repository.

* **Command pages.** ``cli/<command>.md`` for every command of :data:`openeie.commands.COMMANDS`, generated at
  build time from the command's own argparse parser (usage, description, every argument with its help,
  choices and default) and added to the "Command line" section of the navigation. Nothing is copied, so the
  pages cannot drift from ``openeie <command> --help``.
* **Directives**, each an HTML comment on a line of its own (invisible where the page is read unprocessed):

  - ``<!-- include PATH -->``: a whole Markdown file of the repository; ``<!-- include PATH "Heading" -->``:
    the section under that heading, up to the next heading of the same or a higher level (with ``body`` after
    the heading: without the heading line). Relative links of included text that point outside ``docs/``, and
    anchors to headings the include does not carry, become plain text;
  - ``<!-- include-code PATH LANG -->``: a file of the repository as a fenced code block;
  - ``<!-- docstring MODULE[.OBJECT] -->``: a docstring as Markdown (the API reference anchors each object
    once; a topic page shows the specification a module states without anchoring it again);
  - ``<!-- openeie-commands -->``, ``<!-- openeie-layouts -->``, ``<!-- openeie-energy -->``: tables computed
    from the code (the commands and their summaries; the memories and word layouts of the default engine;
    the energy per access of the default engine under the default table).

  Figures thus stay in one place (README.md, fpga/README.md, the table files, the code). A missing file,
  heading or object fails the build.
* **API reference source tree.** ``pyproject.toml`` maps ``openeie.hw`` to ``hw/`` and so on; griffe, which
  reads modules from the file system by their dotted names, cannot follow that mapping. The hook builds a
  tree of symbolic links laid out by dotted name (``openeie/hw -> hw/`` ...) in a temporary directory, points
  the mkdocstrings Python handler's ``paths`` at it and removes it after the build.
"""

from __future__ import annotations

import argparse
import importlib
import os
import posixpath
import re
import shlex
import shutil
import tempfile
import tomllib
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
CLI_SECTION = "Command line"
_DIRECTIVE = re.compile(r"^<!--\s*(include-code|include|docstring|openeie-commands|openeie-layouts|openeie-energy)"
                        r"(?![\w-])\s*(.*?)\s*-->\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(```|~~~)")
_LINK = re.compile(r"(?<!!)\[([^\]]*)\]\(([^)\s]+)\)")
_state: dict = {}


# ---------------------------------------------------------------------------------------------------------
# command pages

def command_parsers() -> list[tuple[str, str, argparse.ArgumentParser]]:
    """``(module, command name, parser)`` of every command, in :data:`openeie.commands.COMMANDS` order.

    Each command module registers itself on a fresh subparsers action, so the name it is run by comes from
    the module and not from a copy of it.
    """
    from openeie.commands import COMMANDS
    out = []
    for module in COMMANDS:
        root = argparse.ArgumentParser(prog="openeie")
        sub = root.add_subparsers(dest="command")
        importlib.import_module(f"openeie.commands.{module}").add_arguments(sub)
        if len(sub.choices) != 1:
            raise PluginError(f"openeie.commands.{module} registers {sorted(sub.choices)}, expected one command")
        (name, parser), = sub.choices.items()
        parser.openeie_summary = sub._choices_actions[0].help if sub._choices_actions else None
        out.append((module, name, parser))
    return out


def _md_cell(text: str) -> str:
    """Plain text (a help string) as the text of one Markdown table cell: one line, no markup."""
    text = " ".join(str(text).split())
    text = re.sub(r"([\\`*_\[\]|])", r"\\\1", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _action_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    if action.option_strings:
        if action.nargs == 0:
            names = ", ".join(f"`{s}`" for s in action.option_strings)
        else:
            metavar = formatter._format_args(action, formatter._get_default_metavar_for_optional(action))
            names = ", ".join(f"`{s} {metavar}`" for s in action.option_strings)
    else:
        names = f"`{action.metavar or action.dest}`"
    help_text = formatter._expand_help(action) if action.help else ""
    notes = []
    if action.choices and not isinstance(action, argparse._SubParsersAction):
        notes.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    if action.required and action.option_strings:
        notes.append("required")
    default = action.default
    if (action.option_strings and action.nargs != 0 and default is not None and default is not argparse.SUPPRESS
            and "default" not in help_text.lower()):
        notes.append(f"default `{default}`")
    cell = _md_cell(help_text)
    if notes:
        cell = f"{cell} ({'; '.join(notes)})" if cell else "; ".join(notes)
    return f"| {names} | {cell} |"


def command_page(name: str, parser: argparse.ArgumentParser, module: str) -> str:
    """The Markdown page of one command, from its parser (and its sub-commands' parsers, as sections)."""
    lines = [f"# openeie {name}", "",
             f"<!-- Generated at build time from the parser of openeie.commands.{module}; do not edit. -->", ""]
    summary = getattr(parser, "openeie_summary", None)
    if summary:
        summary = summary[:1].upper() + summary[1:].rstrip(".")
        lines += [f"*{_md_cell(summary)}.*", ""]
    return "\n".join(lines + _parser_lines(parser, f"openeie {name}", 2))


def _subcommands(action: argparse.Action) -> list[tuple[str, argparse.ArgumentParser, str]]:
    helps = {a.dest: a.help or "" for a in action._choices_actions}
    return [(name, sub, helps.get(name, "")) for name, sub in action.choices.items()]


def _free_text(parser: argparse.ArgumentParser, text: str) -> list[str]:
    # a raw-formatted text keeps its lines (examples); a one-line text is prose either way
    raw = issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter) and "\n" in text.strip()
    return ["```text", text.strip("\n"), "```", ""] if raw else [_md_cell(text), ""]


def _parser_lines(parser: argparse.ArgumentParser, prog: str, level: int) -> list[str]:
    lines = _free_text(parser, parser.description) if parser.description else []
    lines += ["```text", _fixed_width(parser.format_usage).strip(), "```", ""]
    nested = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions
                   if a.help is not argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        title = group.title or "arguments"
        lines += [f"{'#' * level} {title[:1].upper()}{title[1:]}", "", "| argument | meaning |", "|---|---|"]
        for action in actions:
            if isinstance(action, argparse._SubParsersAction):
                subs = _subcommands(action)
                nested += subs
                cell = "; ".join(f"`{sub}`: {_md_cell(text)}" if text else f"`{sub}`" for sub, _, text in subs)
                lines.append(f"| `{action.metavar or action.dest}` | {cell} |")
            else:
                lines.append(_action_row(parser, action))
        lines.append("")
    if parser.epilog:
        lines += _free_text(parser, parser.epilog)
    for sub, subparser, text in nested:
        lines += [f"{'#' * level} {prog} {sub}", ""]
        if text:
            lines += [f"*{_md_cell(text[:1].upper() + text[1:].rstrip('.'))}.*", ""]
        lines += _parser_lines(subparser, f"{prog} {sub}", level + 1)
    return lines


def _fixed_width(format_text) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "110"            # argparse wraps to the terminal: fix the width for the page
    try:
        return format_text()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def commands_table(page_src: str) -> str:
    """A table of every command, its page and its one-line summary."""
    rows = ["| command | what it does |", "|---|---|"]
    for _, name, parser in _state.get("commands") or command_parsers():
        link = posixpath.relpath(f"cli/{name}.md", posixpath.dirname(page_src) or ".")
        summary = getattr(parser, "openeie_summary", None) or ""
        rows.append(f"| [`openeie {name}`]({link}) | {_md_cell(summary)} |")
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------------------
# word layouts of the default engine

def layouts_tables() -> str:
    """The memories and the word layouts of the default (EIE) configuration, computed from ``openeie.layout``."""
    from amaranth.hdl import Shape
    from amaranth.lib import data
    from openeie import layout
    from openeie.config import EngineConfig
    cfg = EngineConfig()

    def width(shape) -> int:
        return shape.size if isinstance(shape, data.Layout) else Shape.cast(shape).width

    def fields(title: str, struct) -> list[str]:
        rows = [f"**{title}** ({width(struct)} bits, first field in the least significant bits):", "",
                "| field | bits | offset |", "|---|---|---|"]
        rows += [f"| `{name}` | {width(f.shape)} | {f.offset} |" for name, f in struct]
        return rows + [""]

    rows = ["| memory | id on the load port | word (bits) | depth (words) | where |", "|---|---|---|---|---|"]
    for mem in layout.Mem:
        where = "global" if mem is layout.Mem.LAYERS else "per PE"
        rows.append(f"| `{mem.name.lower()}` | {int(mem)} | {layout.mem_word_bits(cfg, mem)} | "
                    f"{layout.mem_depth(cfg, mem)} | {where} |")
    rows.append("")
    word = layout.spmat_word_layout(cfg)
    rows += fields(f"Sparse-matrix entry (`entry_layout`; {word.length} to a `spmat` word, entry 0 in the LSBs)",
                   layout.entry_layout(cfg))
    rows += fields("Layer-table descriptor (`layer_desc_layout`)", layout.layer_desc_layout(cfg))
    rows += fields("Load-port word (`load_word_layout`)", layout.load_word_layout(cfg))
    return "\n".join(rows)


def energy_table() -> str:
    """Energy per counted access of the default (EIE) engine under the default table, from the energy model."""
    from openeie.config import EngineConfig
    from openeie.sim import energy
    cfg, table = EngineConfig(), energy.load_table()
    per_access = energy.per_access_pj(cfg, table)       # the one place the table's laws meet the memory sizes
    rows = [f"| component | pJ per access ({table.name}) |", "|---|---|"]
    rows += [f"| `{name}` | {pj:.3f} |" for name, pj in per_access.items() if pj]
    rows += ["", f"DRAM: {table.dram_pj(1):.1f} pJ per bit; fp32 multiply-add (the dense reference): "
             f"{table.fp32_mac_pj:.1f} pJ."]
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------------------
# module docstrings on the topic pages

def _markup():
    if "markup" not in _state:
        import importlib.util
        path = Path(__file__).with_name("griffe_markup.py")
        spec = importlib.util.spec_from_file_location("openeie_docs_markup", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _state["markup"] = module
    return _state["markup"]


def object_docstring(name: str, page_src: str) -> str:
    """The docstring of a module (or of an object in one) as Markdown, its roles as links into the API reference.

    The API reference renders every object once, where it is anchored; a topic page shows the specification a
    docstring states without registering those anchors a second time.
    """
    import inspect
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:i]))
            break
        except ImportError:
            continue
    else:
        raise PluginError(f"{page_src}: docstring: cannot import {name!r}")
    obj = module
    for attr in parts[i:]:
        obj = getattr(obj, attr, None)
        if obj is None:
            raise PluginError(f"{page_src}: docstring: {module.__name__} has no {'.'.join(parts[i:])!r}")
    doc = inspect.getdoc(obj)
    if not doc:
        raise PluginError(f"{page_src}: docstring: {name} has no docstring")

    def resolve(target: str) -> str:
        first, _, rest = target.partition(".")
        if target.startswith("openeie."):
            return target
        found = getattr(module, first, None)
        if found is None:
            return target
        if inspect.ismodule(found):
            full = found.__name__
        elif getattr(found, "__module__", None) and getattr(found, "__qualname__", None):
            full = f"{found.__module__}.{found.__qualname__}"
        else:
            full = f"{module.__name__}.{first}"
        return f"{full}.{rest}" if rest else full

    return _markup().markdown_of(doc, resolve)


# ---------------------------------------------------------------------------------------------------------
# includes

def _section(text: str, heading: str, origin: str) -> str:
    lines = text.splitlines()
    in_fence = False
    start = level = None
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else _HEADING.match(line)
        if not m:
            continue
        if start is None:
            if m.group(2) == heading:
                start, level = i, len(m.group(1))
        elif len(m.group(1)) <= level:
            return "\n".join(lines[start:i])
    if start is None:
        raise PluginError(f"include: no heading {heading!r} in {origin}")
    return "\n".join(lines[start:])


def _anchor(title: str) -> str:
    # Python-Markdown's toc slugify (the default of MkDocs): lower case, word characters, spaces to '-'.
    import unicodedata
    value = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", re.sub(r"`", "", value)).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def _fix_links(text: str, source: Path, page_src: str, docs_dir: Path) -> str:
    anchors = {_anchor(m.group(2)) for m in map(_HEADING.match, text.splitlines()) if m}

    def link(m: re.Match) -> str:
        label, target = m.group(1), m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            return m.group(0)                                      # a URL
        if target.startswith("#"):
            return m.group(0) if target[1:] in anchors else label
        path, _, frag = target.partition("#")
        resolved = (source.parent / path).resolve()
        try:
            rel_docs = resolved.relative_to(docs_dir)
        except ValueError:
            return label                                            # a repository file outside docs/
        rel = posixpath.relpath(rel_docs.as_posix(), posixpath.dirname(page_src) or ".")
        return f"[{label}]({rel}{'#' + frag if frag else ''})"

    out, in_fence = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        out.append(line if in_fence else _LINK.sub(link, line))
    return "\n".join(out)


def expand_includes(markdown: str, page_src: str, docs_dir: Path) -> str:
    """Replace every include directive of a page (see the module docstring)."""
    out = []
    for line in markdown.splitlines():
        m = _DIRECTIVE.match(line)
        if not m:
            out.append(line)
            continue
        kind, args = m.group(1), shlex.split(m.group(2))
        if kind == "openeie-commands":
            out.append(commands_table(page_src))
            continue
        if kind == "openeie-layouts":
            out.append(layouts_tables())
            continue
        if kind == "openeie-energy":
            out.append(energy_table())
            continue
        if kind == "docstring":
            out.append(object_docstring(args[0] if args else "", page_src))
            continue
        if not args:
            raise PluginError(f"{page_src}: {kind} needs a path")
        source = (ROOT / args[0]).resolve()
        if not source.is_file():
            raise PluginError(f"{page_src}: {kind}: no file {args[0]!r} in the repository")
        text = source.read_text(encoding="utf-8")
        if kind == "include-code":
            lang = args[1] if len(args) > 1 else ""
            out += [f"```{lang}", text.rstrip("\n"), "```"]
            continue
        if len(args) > 1:
            text = _section(text, args[1], args[0])
            if args[2:] == ["body"]:                          # the section without its heading line
                text = text.split("\n", 1)[1] if "\n" in text else ""
            elif args[2:]:
                raise PluginError(f"{page_src}: include {args[0]} {args[1]!r}: unknown option {args[2:]}")
        out.append(_fix_links(text, source, page_src, docs_dir))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------------
# the API reference's source tree

def mapped_source_tree(dest: Path) -> Path:
    """Symbolic links laying the packages out by dotted name (``pyproject.toml``'s ``package-dir``)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    mapping = setuptools.get("package-dir", {})
    for package in sorted(setuptools["packages"]):
        parts = package.split(".")
        target = ROOT / mapping.get(package, "/".join(parts))
        if package not in mapping and any(".".join(parts[:i]) in mapping for i in range(1, len(parts))):
            continue                                 # under a mapped parent: reached through the parent's link
        where = dest.joinpath(*parts)
        where.mkdir(parents=True, exist_ok=True)
        for entry in target.iterdir():
            if entry.name == "__init__.py":
                # a copy: griffe resolves a package's own file and walks the directory it finds it in
                shutil.copyfile(entry, where / entry.name)
            elif entry.name != "__pycache__" and not (where / entry.name).exists():
                (where / entry.name).symlink_to(entry)
    return dest


@event_priority(100)
def on_config(config):
    docs_dir = Path(config["docs_dir"]).resolve()
    _state["docs_dir"] = docs_dir
    tree = Path(tempfile.mkdtemp(prefix="openeie-docs-src-"))
    _state["tree"] = tree
    mapped_source_tree(tree)
    handlers = config.plugins["mkdocstrings"].config.handlers
    handlers.setdefault("python", {})["paths"] = [str(tree)]
    commands = command_parsers()
    _state["commands"] = commands
    for item in config["nav"]:
        if isinstance(item, dict) and CLI_SECTION in item:
            entries = item[CLI_SECTION]
            listed = {e if isinstance(e, str) else next(iter(e.values())) for e in entries}
            entries += [{f"openeie {name}": f"cli/{name}.md"} for _, name, _ in commands
                        if f"cli/{name}.md" not in listed]
            break
    else:
        raise PluginError(f"mkdocs.yml: the nav has no {CLI_SECTION!r} section for the command pages")
    return config


def on_files(files, config):
    for module, name, parser in _state["commands"]:
        files.append(File.generated(config, f"cli/{name}.md", content=command_page(name, parser, module)))
    return files


def on_page_markdown(markdown, page, config, files):
    return expand_includes(markdown, page.file.src_uri, _state["docs_dir"])


def _remove_tree(**kwargs):
    tree = _state.pop("tree", None)
    if tree is not None:
        shutil.rmtree(tree, ignore_errors=True)


on_post_build = on_build_error = on_shutdown = _remove_tree
