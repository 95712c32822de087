"""LaunchReplay: recorded kernel launches give the same results as plain ``wp.launch`` calls."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def wp():
    from drape.cache import init_warp

    return init_warp()


@pytest.fixture(scope="module")
def kernels(wp):
    @wp.kernel
    def axpy(a: float, x: wp.array(dtype=wp.vec3), y: wp.array(dtype=wp.vec3), out: wp.array(dtype=wp.vec3)):
        i = wp.tid()
        out[i] = a * x[i] + y[i]

    @wp.kernel
    def scale_by(s: wp.vec3, x: wp.array(dtype=wp.vec3), out: wp.array(dtype=wp.vec3)):
        i = wp.tid()
        out[i] = wp.cw_mul(s, x[i])

    return axpy, scale_by


def _arrays(wp, n=5):
    x = wp.array(np.arange(3 * n, dtype=np.float32).reshape(n, 3), dtype=wp.vec3, device="cpu")
    y = wp.array(np.ones((n, 3), dtype=np.float32), dtype=wp.vec3, device="cpu")
    out = wp.zeros(n, dtype=wp.vec3, device="cpu")
    return x, y, out


def test_replayed_launches_match_plain_launches(wp, kernels):
    from drape.sim.launch_replay import LaunchReplay

    axpy, _ = kernels
    x, y, out = _arrays(wp)
    rep = LaunchReplay()
    with rep.active():
        wp.launch(axpy, dim=5, inputs=[2.0, x, y], outputs=[out], device="cpu")
        first = out.numpy().copy()
        # Same arguments: replayed, and it reads the arrays' current contents.
        x.assign(np.full((5, 3), 3.0, dtype=np.float32))
        wp.launch(axpy, dim=5, inputs=[2.0, x, y], outputs=[out], device=wp.get_device("cpu"))  # a Device object
        replayed = out.numpy().copy()
        # A different scalar is a different record.
        wp.launch(axpy, dim=5, inputs=[-1.0, x, y], outputs=[out], device="cpu")
        other = out.numpy().copy()
    np.testing.assert_array_equal(first, 2.0 * np.arange(15, dtype=np.float32).reshape(5, 3) + 1.0)
    np.testing.assert_array_equal(replayed, np.full((5, 3), 7.0, dtype=np.float32))
    np.testing.assert_array_equal(other, np.full((5, 3), -2.0, dtype=np.float32))
    assert (rep.recorded, rep.replayed, rep.passed_through) == (2, 1, 0)


def test_new_arrays_and_vector_values_get_their_own_records(wp, kernels):
    from drape.sim.launch_replay import LaunchReplay

    _, scale_by = kernels
    x, _, out = _arrays(wp)
    x2, _, out2 = _arrays(wp)
    x2.assign(np.ones((5, 3), dtype=np.float32))
    rep = LaunchReplay()
    with rep.active():
        wp.launch(scale_by, dim=5, inputs=[wp.vec3(1.0, 2.0, 3.0), x], outputs=[out], device="cpu")
        wp.launch(scale_by, dim=5, inputs=[wp.vec3(1.0, 2.0, 3.0), x2], outputs=[out2], device="cpu")
        wp.launch(scale_by, dim=5, inputs=[wp.vec3(0.0, 0.0, 1.0), x2], outputs=[out2], device="cpu")
        wp.launch(scale_by, dim=5, inputs=[wp.vec3(1.0, 2.0, 3.0), x], outputs=[out], device="cpu")
    expect = np.arange(15, dtype=np.float32).reshape(5, 3) * np.array([1.0, 2.0, 3.0], dtype=np.float32)
    np.testing.assert_array_equal(out.numpy(), expect)
    np.testing.assert_array_equal(out2.numpy(), np.tile(np.array([0.0, 0.0, 1.0], dtype=np.float32), (5, 1)))
    assert (rep.recorded, rep.replayed) == (3, 1)


def test_unkeyable_arguments_pass_through_and_the_cap_holds(wp, kernels):
    from drape.sim.launch_replay import LaunchReplay

    axpy, _ = kernels
    x, y, out = _arrays(wp)
    rep = LaunchReplay(max_records_per_kernel=2)
    with rep.active():
        for a in (1.0, 2.0, 3.0, 4.0):  # a changing float: records stop at the cap, results stay right
            wp.launch(axpy, dim=5, inputs=[a, x, y], outputs=[out], device="cpu")
        np.testing.assert_array_equal(out.numpy(), 4.0 * x.numpy() + 1.0)
        # A numpy array argument (converted by Warp on every call) is not keyed.
        wp.launch(axpy, dim=5, inputs=[1.0, x.numpy(), y], outputs=[out], device="cpu")
        np.testing.assert_array_equal(out.numpy(), x.numpy() + 1.0)
        wp.launch(axpy, dim=0, inputs=[1.0, x, y], outputs=[out], device="cpu")  # empty: nothing to record
    assert rep.recorded == 2 and rep.passed_through == 4
    assert wp.launch is not rep.launch  # restored on exit
    with pytest.raises(ValueError, match="max_records_per_kernel"):
        LaunchReplay(max_records_per_kernel=0)
