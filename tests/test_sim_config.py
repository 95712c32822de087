"""SimConfig validation and CLI option round trip (no physics)."""

import argparse

import pytest

from drape.config import add_config_arguments, config_from_args
from drape.sim.config import SimConfig, SimConfigError
from drape.types import DrapeError


def test_defaults_resolve_iterations_per_solver():
    assert SimConfig().solver == "style3d"
    assert SimConfig().solver_iterations == 15
    assert SimConfig(solver="vbd").solver_iterations == 15
    assert SimConfig(solver="vbd", iterations=20).solver_iterations == 20
    assert SimConfig(fps=30, substeps=10).dt == pytest.approx(1 / 300)
    assert SimConfig().to_dict()["iterations"] == 15


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"solver": "xpbd"}, "solver"),
        ({"collider": "capsules"}, "collider"),
        ({"substeps": 0}, "substeps"),
        ({"substeps": 2.5}, "substeps"),
        ({"iterations": 0}, "iterations"),
        ({"fps": 0.0}, "fps"),
        ({"density": -1.0}, "density"),
        ({"friction": -0.1}, "friction"),
        ({"thickness": float("nan")}, "thickness"),
        ({"settle_frames": -1}, "settle_frames"),
        ({"settle_damping": 1.0}, "settle_damping"),
        ({"tether": -0.1}, "tether"),
        ({"tether_slack": float("inf")}, "tether_slack"),
    ],
)
def test_invalid_values_name_the_field(kw, field):
    with pytest.raises(SimConfigError, match=f"SimConfig.{field}: expected"):
        SimConfig(**kw)
    assert issubclass(SimConfigError, DrapeError)


def test_cli_options_round_trip():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, SimConfig)
    args = parser.parse_args(["--solver", "vbd", "--substeps", "12", "--iterations", "18", "--no-self-collision",
                              "--collider", "proxy", "--friction", "0.5"])
    cfg = config_from_args(SimConfig, args)
    assert cfg == SimConfig(solver="vbd", substeps=12, iterations=18, self_collision=False, collider="proxy", friction=0.5)
    assert config_from_args(SimConfig, parser.parse_args([])) == SimConfig()
    with pytest.raises(SystemExit):
        parser.parse_args(["--solver", "xpbd"])
