"""The memory plan: the one place the images' sizes come from (lower, the report configuration, the benchmarks)."""

import numpy as np
import pytest

from openeie.compiler.benchmarks import random_layer
from openeie.compiler.compress import report_config
from openeie.compiler.lower import lower
from openeie.compiler.network import CapacityError, CompressedNetwork
from openeie.compiler.plan import CAPACITY_FIELDS, layer_geometry, plan_network
from openeie.config import EngineConfig
from openeie.layout import Mem


def net(seed=0):
    layers = [random_layer(37, 50, 0.3, 4, seed=seed, name="a"), random_layer(50, 9, 0.5, 4, seed=seed + 1, name="b")]
    return CompressedNetwork(layers)


@pytest.mark.parametrize("n_pe", [1, 3, 8])
def test_needs_are_what_lower_writes(n_pe):
    cfg = EngineConfig(n_pe=n_pe, rel_index_bits=2, entries_per_word=5)
    plan = plan_network(net(), cfg)
    program = lower(net(), cfg)
    need = plan.needs
    assert need["spmat_depth_words"] == int(program.used[Mem.SPMAT].max())
    assert need["ptr_depth"] == 2 * int(program.used[Mem.PTR_EVEN][0])
    assert need["bias_depth"] == int(program.used[Mem.BIAS][0])
    assert need["act_depth"] == max(max(l.in_groups, l.out_slots) for l in program.layers)
    assert need["max_layers"] == 2
    g = layer_geometry(37, 50, n_pe)
    assert (program.layers[0].in_groups, program.layers[0].out_slots) == g[:2]


@pytest.mark.parametrize("field", CAPACITY_FIELDS)
def test_each_capacity_error_carries_field_need_and_limit(field):
    cfg = EngineConfig(n_pe=4, entries_per_word=8)
    need = plan_network(net(), cfg).needs[field]
    small = cfg.replace(**{field: need - 1 - (need - 1) % 2 if field == "ptr_depth" else need - 1})
    with pytest.raises(CapacityError) as info:
        lower(net(), small)
    assert (info.value.field, info.value.limit) == (field, getattr(small, field))
    assert info.value.need > info.value.limit and f"{field}={getattr(small, field)}" in str(info.value)
    lower(net(), cfg.replace(**{field: need + need % 2 if field == "ptr_depth" else need}))


def test_fit_grows_to_exactly_what_is_needed():
    cfg = EngineConfig(n_pe=4, spmat_depth_words=1, ptr_depth=2, act_depth=1, bias_depth=1, max_layers=1)
    plan = plan_network(net(), cfg)
    fitted = plan.fit(cfg)
    lower(net(), fitted)
    assert {f: getattr(fitted, f) for f in CAPACITY_FIELDS} == plan.needs
    assert plan.fit(cfg, minimum=EngineConfig().to_dict()).act_depth == EngineConfig().act_depth   # never shrinks


def test_report_config_is_the_smallest_power_of_two_fit():
    network = net(3)
    cfg = report_config(network, code_bits=4, rel_index_bits=5)
    lower(network, cfg)
    need = plan_network(network, cfg).needs
    for field, floor in (("spmat_depth_words", 1), ("ptr_depth", 2)):
        value = getattr(cfg, field)
        assert value & (value - 1) == 0 and value >= need[field] and (value // 2 < need[field] or value == floor)
    assert cfg.act_depth == EngineConfig.act_depth and cfg.bias_depth == EngineConfig.bias_depth
