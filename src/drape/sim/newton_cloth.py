"""Newton adapter: one garment as cloth, one deforming body mesh as a kinematic collider.

:class:`ClothScene` owns the Newton model, solver, states and collision
pipeline. The caller drives it substep by substep: it writes where the body
mesh and the pinned (kinematic) garment vertices are at the end of the
substep, then calls :meth:`ClothScene.substep`. Everything runs on Warp's CPU
device and is bit-deterministic.

Newton and Warp are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib

import numpy as np

from drape.sim.collider import BodyCollider
from drape.sim.config import SimConfig
from drape.sim.launch_replay import LaunchReplay
from drape.types import DrapeError, Garment

REPLAY_LAUNCHES = True
"""Replay recorded kernel launches inside substeps (bit-identical to plain launches; about 1.5x faster per frame on CPU)."""


def pattern_rest_shape(garment: Garment) -> tuple[np.ndarray, np.ndarray]:
    """The sewing pattern as Newton wants it: (panel_verts (3T, 2) float64 metres, panel_indices (T, 3) int64).

    Each triangle corner gets its own 2D point. Triangles whose pattern winding is
    clockwise are mirrored in u (a mirror keeps every edge length and angle, so
    the rest metric is unchanged) because Newton drops negative-area triangles.
    """
    uv = np.asarray(garment.panel_uv, dtype=np.float64).copy()  # (T, 3, 2)
    e1 = uv[:, 1] - uv[:, 0]
    e2 = uv[:, 2] - uv[:, 0]
    area2 = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    if np.any(np.abs(area2) < 1e-14):
        bad = int(np.argmin(np.abs(area2)))
        raise DrapeError(
            f"garment {garment.name}: triangle {bad} has a degenerate sewing-pattern triangle "
            f"(panel area {area2[bad] / 2:.3g} m^2); the cloth solver needs a non-zero rest area"
        )
    flip = area2 < 0
    uv[flip, :, 0] *= -1.0
    T = len(uv)
    return uv.reshape(-1, 2), np.arange(3 * T, dtype=np.int64).reshape(T, 3)


class ClothScene:
    """A Newton cloth simulation of ``garment`` against a kinematic body mesh.

    Args:
        garment: the garment; its ``verts`` are the initial particle positions (rest frame).
        collider: the body mesh collider (its current points are the initial body).
        config: simulation settings.
    """

    def __init__(self, garment: Garment, collider: BodyCollider, *, config: SimConfig):
        from drape.cache import init_warp

        wp = init_warp()
        import newton

        self.config = config
        self.garment = garment
        self.collider = collider
        self.pinned = np.asarray(garment.pinned, dtype=np.int64)
        self.dt = config.dt
        V = garment.vert_count
        verts = np.asarray(garment.verts, dtype=np.float64)

        builder = newton.ModelBuilder(up_axis=newton.Axis.Z, gravity=(0.0, 0.0, float(config.gravity)))
        panel_verts, panel_indices = pattern_rest_shape(garment)
        faces = np.asarray(garment.faces, dtype=np.int64)
        if config.solver == "style3d":
            from newton.solvers import style3d

            newton.solvers.SolverStyle3D.register_custom_attributes(builder)
            style3d.add_cloth_mesh(
                builder,
                pos=wp.vec3(0.0, 0.0, 0.0),
                rot=wp.quat_identity(),
                vel=wp.vec3(0.0, 0.0, 0.0),
                vertices=verts.tolist(),
                indices=faces.reshape(-1).tolist(),
                panel_verts=panel_verts.tolist(),
                panel_indices=panel_indices.reshape(-1).tolist(),
                density=float(config.density),
                scale=1.0,
                particle_radius=float(config.thickness),
                tri_aniso_ke=wp.vec3(config.stretch_stiffness, config.stretch_stiffness, config.shear_stiffness),
                edge_aniso_ke=wp.vec3(config.bend_stiffness, config.bend_stiffness, config.bend_stiffness),
                tri_kd=float(config.damping),
                edge_kd=float(config.damping),
            )
        else:
            builder.add_cloth_mesh(
                pos=wp.vec3(0.0, 0.0, 0.0),
                rot=wp.quat_identity(),
                scale=1.0,
                vel=wp.vec3(0.0, 0.0, 0.0),
                vertices=[wp.vec3(*p) for p in verts],
                indices=faces.reshape(-1).tolist(),
                density=float(config.density),
                tri_ke=float(config.stretch_stiffness),
                tri_ka=float(config.stretch_stiffness),
                tri_kd=float(config.damping),
                edge_ke=float(config.bend_stiffness),
                edge_kd=float(config.damping),
                particle_radius=float(config.thickness),
            )
            self._vbd_pattern_rest(builder, panel_verts, panel_indices, faces)
        if len(builder.particle_q) != V:
            raise DrapeError(f"garment {garment.name}: Newton made {len(builder.particle_q)} particles for {V} vertices")
        if len(builder.tri_indices) != len(faces):
            raise DrapeError(
                f"garment {garment.name}: Newton kept {len(builder.tri_indices)} of {len(faces)} triangles "
                "(degenerate or inverted pattern triangles)"
            )

        shape_cfg = newton.ModelBuilder.ShapeConfig(
            mu=float(config.friction),
            margin=0.0,
            gap=float(config.contact_margin),
            has_shape_collision=False,
            has_particle_collision=True,
        )
        self.body_shape = builder.add_shape_mesh(body=-1, mesh=collider.newton_mesh(), cfg=shape_cfg, label="body")
        if config.solver == "vbd":
            builder.color()
        model = builder.finalize(device="cpu")

        # Kinematic vertices: inactive, massless, positions written by the caller.
        if self.pinned.size:
            flags = model.particle_flags.numpy()
            flags[self.pinned] &= ~int(newton.ParticleFlags.ACTIVE)
            model.particle_flags.assign(flags)
            for name in ("particle_mass", "particle_inv_mass"):
                a = getattr(model, name).numpy()
                a[self.pinned] = 0.0
                getattr(model, name).assign(a)
        # The body moves far from its rest box: never cull contacts against it.
        lo = model.shape_collision_aabb_lower.numpy()
        hi = model.shape_collision_aabb_upper.numpy()
        lo[self.body_shape] = -1.0e3
        hi[self.body_shape] = 1.0e3
        model.shape_collision_aabb_lower.assign(lo)
        model.shape_collision_aabb_upper.assign(hi)
        # Posed bodies self-intersect (arms on the torso, thighs together): take the
        # inside/outside side from the nearest face, not from ray parity.
        props = getattr(model, "_shape_mesh_properties", None)
        if props is not None:
            p = props.numpy()
            p[self.body_shape] &= ~1  # MeshProperties.WATERTIGHT
            props.assign(p)

        model.soft_contact_ke = float(config.contact_stiffness)
        model.soft_contact_kd = float(config.contact_damping)
        model.soft_contact_mu = float(config.friction)
        self.model = model

        if config.solver == "style3d":
            solver = newton.solvers.SolverStyle3D(
                model, config=newton.solvers.SolverStyle3D.Config(iterations=config.solver_iterations)
            )
            if config.self_collision:
                solver.collision.radius = float(config.self_collision_radius)
            else:
                solver.collision.stiff_vf = 0.0
                solver.collision.stiff_ee = 0.0
                solver.collision.stiff_ef = 0.0
        else:
            solver = newton.solvers.SolverVBD(
                model,
                iterations=config.solver_iterations,
                particle_enable_self_contact=bool(config.self_collision),
                particle_self_contact_radius=float(config.self_collision_radius),
                particle_self_contact_margin=float(config.self_collision_radius) * 1.5,
            )
        self.solver = solver
        self.state_0 = model.state()
        self.state_1 = model.state()
        self.control = model.control()
        self.pipeline = newton.CollisionPipeline(model, soft_contact_gap=float(config.contact_margin))
        self.contacts = self.pipeline.contacts()
        self._frame_substep = 0
        self.launches = LaunchReplay() if REPLAY_LAUNCHES else None

    # ------------------------------------------------------------------ VBD rest shape
    @staticmethod
    def _vbd_pattern_rest(builder, panel_verts: np.ndarray, panel_indices: np.ndarray, faces: np.ndarray) -> None:
        """Give VBD the flat sewing pattern as its membrane rest shape (as Style3D uses it)."""
        p = panel_verts[panel_indices]  # (T, 3, 2)
        D = np.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]], axis=-1)  # (T, 2, 2) columns = edges
        area = 0.5 * np.abs(np.linalg.det(D))
        inv = np.linalg.inv(D)
        builder.tri_poses[-len(faces):] = inv.tolist()
        builder.tri_areas[-len(faces):] = area.tolist()
        if hasattr(builder, "edge_rest_angle") and len(builder.edge_rest_angle):
            builder.edge_rest_angle[:] = [0.0] * len(builder.edge_rest_angle)

    # ------------------------------------------------------------------ state access
    @property
    def positions(self) -> np.ndarray:
        """(V, 3) float32 metres: current particle positions (a copy)."""
        return self.state_0.particle_q.numpy().copy()

    @property
    def velocities(self) -> np.ndarray:
        """(V, 3) float32 m/s: current particle velocities (a copy)."""
        return self.state_0.particle_qd.numpy().copy()

    def set_pinned(self, positions: np.ndarray, velocities: np.ndarray) -> None:
        """Place the pinned vertices: positions and velocities (P, 3) in ``garment.pinned`` order."""
        if not self.pinned.size:
            return
        q = self.state_0.particle_q.numpy()
        qd = self.state_0.particle_qd.numpy()
        q[self.pinned] = positions
        qd[self.pinned] = velocities
        self.state_0.particle_q.assign(q)
        self.state_0.particle_qd.assign(qd)

    def limit_distance(self, targets: np.ndarray, radius: np.ndarray, *, skip: np.ndarray | None = None,
                       max_step: float = np.inf) -> int:
        """Pull every vertex back within ``radius`` (V,) metres of ``targets`` (V, 3) metres.

        A vertex further away moves towards its target by its excess distance, at most
        ``max_step`` metres, and loses the outward part of its velocity; vertices listed in
        ``skip`` (indices) are left alone. Returns how many vertices were moved.
        """
        q = self.state_0.particle_q.numpy()
        d = q - targets
        n = np.sqrt(np.einsum("vi,vi->v", d, d))
        over = n > radius
        if skip is not None and len(skip):
            over[skip] = False
        count = int(np.count_nonzero(over))
        if count:
            u = d[over] / n[over, None]
            q[over] -= u * np.minimum(n[over] - radius[over], max_step)[:, None]
            qd = self.state_0.particle_qd.numpy()
            outward = np.maximum(np.einsum("vi,vi->v", qd[over], u), 0.0)
            qd[over] -= outward[:, None] * u
            self.state_0.particle_q.assign(q)
            self.state_0.particle_qd.assign(qd)
        return count

    def body_contact_particles(self) -> np.ndarray:
        """Indices of the garment vertices in contact with the body at the last collision detection."""
        count = int(self.contacts.soft_contact_count.numpy()[0])
        if count <= 0:
            return np.zeros(0, dtype=np.int64)
        particles = self.contacts.soft_contact_particle.numpy()[:count]
        return np.unique(particles[particles >= 0]).astype(np.int64)

    def begin_frame(self) -> None:
        """Rebuild the self-collision acceleration structure once per frame."""
        if self.config.solver == "style3d" and self.config.self_collision:
            self.solver.rebuild_bvh(self.state_0)

    def substep(self, *, velocity_damping: float = 0.0, tether: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Advance one substep. The collider and pinned vertices must already hold the substep-end targets.

        ``tether``: ``(targets (V, 3), radius (V,))`` metres: first pull every vertex that was not in
        contact with the body at the previous collision detection back towards ``radius`` of its
        target (:meth:`limit_distance`), by at most half the contact margin (or half the
        thickness when that is larger), so that no vertex
        outside the contact zone is pulled into the body; collision detection and the solve
        follow, so the body keeps the last word over the tether.
        """
        if tether is not None:
            self.limit_distance(*tether, skip=self.body_contact_particles(),
                                max_step=0.5 * max(float(self.config.contact_margin), float(self.config.thickness)))
        with self.launches.active() if self.launches is not None else contextlib.nullcontext():
            self.pipeline.collide(self.state_0, self.contacts)
            self.state_0.clear_forces()
            self.solver.step(self.state_0, self.state_1, self.control, self.contacts, self.dt)
        self.state_0, self.state_1 = self.state_1, self.state_0
        if velocity_damping > 0.0:
            qd = self.state_0.particle_qd.numpy()
            qd *= 1.0 - velocity_damping
            self.state_0.particle_qd.assign(qd)
