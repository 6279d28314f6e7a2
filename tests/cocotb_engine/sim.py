"""Run the engine testbench (``engine_tb.py``) on the named test configurations of ``engine_cases``, through
:mod:`openeie.testbench.verilator` (builds under ``build/cocotb/<config>``, reused while unchanged)."""

from __future__ import annotations

import json
from pathlib import Path

from openeie.testbench.verilator import build_engine, run_cocotb_test, waves_enabled

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
TESTS = REPO / "tests"

__all__ = ["run_cocotb", "run_engine_cases", "run_engine_speed", "stats_path"]


def stats_path(config_name: str) -> Path:
    return BUILD / "rtl_stats" / f"{config_name}.json"


def run_cocotb(config_name: str, testcase: str, env: dict, waves: bool | None = None) -> dict:
    """Build (if needed) and run one cocotb test of ``engine_tb.py`` on configuration ``config_name``; return
    the JSON report the test wrote, plus ``build_s``, ``test_wall_s`` and ``run_failed``."""
    from engine_cases import ALL_CONFIGS as CONFIGS

    waves = waves_enabled() if waves is None else waves
    build_dir, build_s = build_engine(CONFIGS[config_name], BUILD / "cocotb" / (config_name + ("-waves" if waves else "")),
                                      waves)
    report = run_cocotb_test(build_dir, "cocotb_engine.engine_tb", testcase, {"OPENEIE_TB_CONFIG": config_name, **env},
                             waves, python_path=TESTS)
    report["build_s"] = build_s
    return report


def run_engine_cases(config_name: str, seed: int, count: int, waves: bool | None = None) -> dict:
    """Run the testbench on ``make_cases(config_name, seed, count)``; returns its report (per-case ``results``
    and ``errors``, timings) and writes ``build/rtl_stats/<config>.json`` = ``{case_id: Stats.as_dict()}``."""
    report = run_cocotb(config_name, "engine_cases",
                        {"OPENEIE_TB_SEED": str(seed), "OPENEIE_TB_COUNT": str(count)}, waves)
    path = stats_path(config_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({cid: r["stats"] for cid, r in report["results"].items()}, indent=1,
                               sort_keys=True) + "\n")
    return report


def run_engine_speed(config_name: str, runs: int = 20, waves: bool | None = None) -> dict:
    """Run the simulation-speed test (``engine_speed``) on ``config_name``."""
    return run_cocotb(config_name, "engine_speed", {"OPENEIE_TB_RUNS": str(runs)}, waves)
