"""The documentation site (mkdocs.yml, docs/): it builds in strict mode, every page of the navigation is built,
every command has its page with every option of its parser, and the getting-started walk runs as written."""

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

for _module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
    pytest.importorskip(_module, reason=f"{_module} is not installed (the docs tools come with the test extra)")


def _nav_pages(nav) -> list[str]:
    pages = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _mkdocs_yml() -> dict:
    class Loader(yaml.SafeLoader):
        pass
    Loader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node))
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)


def _text(page: Path, code: bool = True) -> str:
    """The visible text of a built page, whitespace collapsed (without its code blocks unless ``code``)."""
    body = page.read_text(encoding="utf-8")
    body = body[body.index("<article"):body.index("</article>")]
    if not code:
        body = re.sub(r"<pre.*?</pre>", " ", body, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _commands():
    """``(command name, parser)`` of every module of ``openeie.commands.COMMANDS``, as ``openeie`` registers them."""
    from openeie.cli import build_parser
    from openeie.commands import COMMANDS
    parser = build_parser()
    sub, = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(sub.choices) == len(COMMANDS)
    return list(sub.choices.items())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return out


def test_strict_build_builds_every_nav_page(site):
    pages = _nav_pages(_mkdocs_yml()["nav"])
    assert {"index.md", "getting-started.md", "engine.md", "formats.md", "arithmetic.md", "cli/index.md",
            "fpga.md", "energy.md", "papers.md", "api/index.md"} <= set(pages)
    for page in pages:
        assert (ROOT / "docs" / page).is_file(), page
        built = site / ("index.html" if page == "index.md" else page.removesuffix(".md").removesuffix("/index")
                        + "/index.html")
        assert built.is_file(), f"{page} was not built"
    # the API reference is rendered from the docstrings: its packages' objects are on the pages
    core = (site / "api" / "core" / "index.html").read_text()
    assert 'id="openeie.config.EngineConfig"' in core and 'id="openeie.layout.layer_desc_layout"' in core
    assert 'id="openeie.hw.engine.Engine"' in (site / "api" / "hw" / "index.html").read_text()


def test_every_command_has_a_page_with_every_option(site):
    nav = (site / "cli" / "index.html").read_text()
    for name, parser in _commands():
        page = site / "cli" / name / "index.html"
        assert page.is_file(), f"no page for openeie {name}"
        assert f'href="{name}/"' in nav or f'href="../{name}/"' in nav, f"openeie {name} is not in the navigation"
        text = _text(page, code=False)                      # the argument tables, not the usage blocks
        for subparser, action in _actions(parser):
            for option in action.option_strings or [action.metavar or action.dest]:
                assert option in text, f"{subparser.prog}: {option} is not on its page"
            if action.help and action.help is not argparse.SUPPRESS:
                helptext = " ".join(subparser._get_formatter()._expand_help(action).split())
                assert helptext in text, f"{subparser.prog} {action.option_strings}: help text not on its page"
            for choice in getattr(action, "_choices_actions", []):           # sub-commands and their summaries
                assert f"{subparser.prog} {choice.dest}" in text, f"{subparser.prog} {choice.dest}: no section"
                assert " ".join((choice.help or "").split()) in text, f"{subparser.prog} {choice.dest}: no summary"


def _actions(parser):
    """``(parser, action)`` of every argument of a parser and of its sub-commands' parsers."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        yield parser, action
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                yield from _actions(subparser)


def test_included_figures_come_from_their_files(site):
    """Pages that show measured figures include them from README.md / fpga/README.md instead of copying them."""
    readme = (ROOT / "README.md").read_text()
    row = re.search(r"^\| Alex-6 \|.*$", readme, re.M).group(0)         # a row of the EIE suite's table
    assert " ".join(c.strip() for c in row.strip("|").split("|")) in _text(site / "papers" / "index.html")
    fpga = (ROOT / "fpga" / "README.md").read_text()
    heading = re.search(r"^### (What limits Fmax now)$", fpga, re.M).group(1)
    assert heading in _text(site / "fpga" / "index.html")
    energy = "".join(_text(site / "energy" / "index.html").split())    # highlighting splits the lines' tokens
    for table in ("sim/energy_45nm.yaml", "sim/area_45nm.yaml"):
        assert "".join((ROOT / table).read_text().split()) in energy, f"{table} is not on the energy page whole"


def test_getting_started_walk_runs_as_written(tmp_path):
    """The shell block of "One network, from file to Verilog" runs, from make_net.py to engine.v."""
    page = (ROOT / "docs" / "getting-started.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", page, re.S) if "python make_net.py" in b)
    shutil.copy(ROOT / "docs" / "examples" / "make_net.py", tmp_path)
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    run = subprocess.run(["bash", "-euc", block], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    assert (tmp_path / "images" / "program.oeie").is_file() and (tmp_path / "images" / "manifest.json").is_file()
    assert "module openeie_engine" in (tmp_path / "engine.v").read_text()
    assert "compiled 2 layer(s) for 4 PEs" in run.stdout
