"""Training windows of garment sequences for the garment-dynamics model.

A :class:`Track` is one sequence ready for learning: world garment vertices, the bone
transforms of every frame (computed once per sequence by posing the body, and cached on
disk next to a dataset), and optionally the posed body for metrics. A
:class:`TrainingData` is the garment's :class:`~drape.model.features.GarmentReference`
plus its tracks.

A *window* is ``(track, start)``: the ``window + 1`` history frames ``start .. start+i``
followed by ``K`` target frames, so ``i + 1 + K`` frames in all (K = the unroll length of
multi-step training). :class:`WindowDataset` lists the windows valid for the largest K
and assembles batches of them.

The validation split is **held out by motion** (:func:`split_by_motion`): every sequence of
a validation motion, whatever its body shape, goes to validation and no window of it is
ever used for training. Normalisation statistics are fitted on the training tracks only
(:func:`fit_normalizer`).

Sources of tracks:

* a dataset folder written by ``drape dataset build`` (:func:`load_training_data`): the
  garment is rebuilt from its library name (for its UV atlas), the reference drape is the
  dataset's ``rest_drape.npy`` (the simulator's settle of that garment on that body);
* in-memory :class:`drape.types.Sequence` objects (:func:`track_from_sequence`);
* synthetic data (:func:`synthetic_training_data`), for tests and smoke runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drape.types import BodyShape, DrapeError, Sequence

CACHE_DIR_NAME = "train_cache"
"""Sub-folder of a dataset folder holding per-sequence bone transforms and garment references."""
TRANSFORMS_FORMAT = "drape.bone-transforms"
TRANSFORMS_VERSION = 1


class WindowDataError(DrapeError):
    """Bad training data: no sequences, mismatched garments, leaking splits, too-short sequences."""


@dataclass(frozen=True, eq=False)
class Track:
    """One garment sequence ready for training or evaluation."""

    name: str
    """Unique label (the dataset task id)."""
    motion: str
    """Motion name: the unit of the train/validation split."""
    fps: float
    verts: np.ndarray
    """(F, V, 3) float32 metres, world frame: the simulated garment."""
    transforms: np.ndarray
    """(F, J, 4, 4) float32: bone skinning transforms (rest frame -> world) of every frame."""
    body_verts: np.ndarray | None = None
    """(F, Vb, 3) float32 metres, the posed body (for penetration metrics), or None."""
    body_faces: np.ndarray | None = None
    """(Tb, 3) int32, or None."""
    meta: dict = field(default_factory=dict)
    """The sequence meta (garment, motion, body shape, timings...)."""

    def __post_init__(self) -> None:
        v, t = np.shape(self.verts), np.shape(self.transforms)
        if len(v) != 3 or v[2] != 3:
            raise WindowDataError(f"track {self.name}: verts: expected (F, V, 3), got {v}")
        if len(t) != 4 or t[0] != v[0] or t[2:] != (4, 4):
            raise WindowDataError(f"track {self.name}: transforms: expected ({v[0]}, J, 4, 4), got {t}")

    @property
    def frame_count(self) -> int:
        return int(self.verts.shape[0])

    @property
    def physics_sec_per_frame(self) -> float | None:
        t = (self.meta or {}).get("timings", {})
        v = t.get("sec_per_frame") if isinstance(t, dict) else None
        return float(v) if v else None


@dataclass(frozen=True, eq=False)
class TrainingData:
    """A garment reference and its tracks (all with the reference's vertex count and rig)."""

    reference: object
    """:class:`drape.model.features.GarmentReference`."""
    tracks: tuple[Track, ...]
    panel_uv: np.ndarray | None = None
    """(T, 3, 2) float32 metres: the garment's sewing pattern (for strain metrics), or None."""
    template_verts: np.ndarray | None = None
    """(V, 3) float32 metres, rest frame: the garment as built, before draping (for the mirror map), or None."""

    def __post_init__(self) -> None:
        ref = self.reference
        for tr in self.tracks:
            if tr.verts.shape[1] != ref.vert_count:
                raise WindowDataError(
                    f"track {tr.name}: {tr.verts.shape[1]} garment vertices, the reference {ref.name} has {ref.vert_count}"
                )
            if tr.transforms.shape[1] != ref.bone_count:
                raise WindowDataError(f"track {tr.name}: {tr.transforms.shape[1]} bones, the reference rig has {ref.bone_count}")

    @property
    def motions(self) -> list[str]:
        return sorted({t.motion for t in self.tracks})

    def subset(self, tracks) -> "TrainingData":
        return TrainingData(self.reference, tuple(tracks), self.panel_uv, self.template_verts)


# --------------------------------------------------------------------------- split


def split_by_motion(tracks, validation_motions) -> tuple[tuple[Track, ...], tuple[Track, ...]]:
    """(train, validation) tracks: every track whose motion is listed goes to validation.

    A listed clip (``13_29``, ``dance_b``) holds out every sequence of that clip, its segments
    included. A listed segment (``13_29@24``) holds out that segment only: the clip's other
    segments still train, which suits validation (unseen frames of a familiar kind of motion) and
    never the test split (:mod:`drape.data.splits` keeps whole test clips out of datasets). A segment
    of that clip sharing any of its seconds (``13_29@22.5`` against ``13_29@24``) is in neither split.

    Raises WindowDataError when a listed motion is not in the data or nothing is left to train on.
    """
    tracks = tuple(tracks)
    # Motions match by clip name or BVH stem: "07_01", "07_01.bvh" and ".../cmu-daz/07_01.bvh" are one motion.
    listed = [str(m) for m in validation_motions if str(m)]

    def held_out(motion: str) -> bool:
        return any(names_motion(m, motion) for m in listed)

    missing = sorted(m for m in listed if not any(names_motion(m, t.motion) for t in tracks))
    if missing:
        present = sorted({_short_spec(t.motion) for t in tracks})
        raise WindowDataError(f"validation motions {missing} are not in the data (motions present: {', '.join(present) or 'none'})")
    val = tuple(t for t in tracks if held_out(t.motion))
    # No second of a validation segment trains: a segment of the same clip overlapping it in time
    # (a half-shifted segment, or the whole clip's first seconds) is left out of both splits.
    spans = [_span(t) for t in val]
    train = tuple(t for t in tracks if not held_out(t.motion) and not any(_overlap(_span(t), sp) for sp in spans))
    if not train:
        raise WindowDataError(f"every motion ({', '.join(sorted({_short_spec(t.motion) for t in tracks}))}) is held out for validation; nothing left to train on")
    assert not ({t.motion for t in train} & {t.motion for t in val})
    return train, val


def names_motion(listed: str, motion: str) -> bool:
    """Whether the validation entry ``listed`` (a clip or a ``clip@START`` segment) names the track motion ``motion``."""
    from drape.data.splits import motion_key
    from drape.motion.library import split_segment

    if motion_key(listed) != motion_key(motion):
        return False
    start = split_segment(listed)[1]
    other = split_segment(motion)[1]
    return start is None or (other is not None and abs(start - other) < 1e-6)


def _span(track: Track) -> tuple[str, float, float]:
    """(clip key, start s, end s) of the source-clip time a track covers."""
    from drape.data.splits import motion_key
    from drape.motion.library import split_segment

    start = split_segment(track.motion)[1] or 0.0
    return motion_key(track.motion), start, start + (track.verts.shape[0] - 1) / float(track.fps)


def _overlap(a: tuple[str, float, float], b: tuple[str, float, float]) -> bool:
    return a[0] == b[0] and a[1] < b[2] - 1e-6 and b[1] < a[2] - 1e-6


def _short_spec(motion: str) -> str:
    """A motion as its clip key plus its segment start, if any (``13_29@24``), for messages."""
    from drape.data.splits import motion_key
    from drape.motion.library import segment_spec, split_segment

    return segment_spec(motion_key(motion), split_segment(motion)[1])


# --------------------------------------------------------------------------- windows


class WindowDataset:
    """All ``(track, start)`` windows of ``window + 1 + max_unroll`` frames, and batch assembly.

    Global (skeleton) features of every target frame are precomputed per track.
    """

    def __init__(self, reference, tracks, *, window: int, max_unroll: int, fps: float, skeleton_joints: tuple[str, ...] = ()):
        from drape.model.features import FeatureConfig, global_features

        self.reference = reference
        self.tracks = tuple(tracks)
        self.window = int(window)
        self.max_unroll = int(max_unroll)
        self.feature_config = FeatureConfig(window=self.window, fps=float(fps), skeleton_joints=tuple(skeleton_joints))
        n = self.window + 1
        length = n + self.max_unroll
        starts = []
        self.skipped = []
        self.global_feats = []
        for k, tr in enumerate(self.tracks):
            if abs(tr.fps - fps) > 1e-6:
                raise WindowDataError(f"track {tr.name}: {tr.fps} fps, the model works at {fps} fps")
            F = tr.frame_count
            if F < length:
                self.skipped.append(tr.name)
                self.global_feats.append(None)
                continue
            T = tr.transforms
            # gf[f] = skeleton features of target frame f (frames f-2 .. f); rows 0, 1 unused.
            win = np.stack([T[np.maximum(np.arange(F) - 2 + j, 0)] for j in range(3)], 1)
            self.global_feats.append(global_features(reference, win, self.feature_config))
            for s in range(F - length + 1):
                starts.append((k, s))
        if not starts:
            raise WindowDataError(
                f"no training windows: every sequence is shorter than window + 1 + unroll = {length} frames "
                f"({len(self.tracks)} sequences)"
            )
        self.windows = np.asarray(starts, dtype=np.int64)
        """(N, 2) int64: (track index, start frame)."""
        self._planes: dict = {}  # (track, frame) -> contact planes, filled by contact_planes

    def __len__(self) -> int:
        return len(self.windows)

    def clip_weights(self, balance: float) -> np.ndarray:
        """(N,) float64 sampling probabilities of the windows, balanced over source clips.

        A window's weight is ``c ** -balance``, where c is the number of windows from the same clip
        (:func:`drape.data.splits.motion_key`: every segment of a long clip, and a mirror image, count
        as that clip). balance 0: every window alike; 1: every clip alike, whatever its length.
        """
        from drape.data.splits import motion_key

        if not 0 <= balance <= 1:
            raise WindowDataError(f"clip balance must be in [0, 1], got {balance}")
        clips = np.array([motion_key(self.tracks[k].motion) for k in self.windows[:, 0]])
        _, inverse, counts = np.unique(clips, return_inverse=True, return_counts=True)
        w = counts[inverse].astype(np.float64) ** -float(balance)
        return w / w.sum()

    def contact_planes(self, ids, unroll: int) -> dict[str, np.ndarray] | None:
        """The simulated body's tangent planes under the ground-truth garment of each target frame.

        For every target vertex: the body vertex nearest to its simulated position and that body
        vertex's normal (the frame's posed body mesh), and the simulated vertex's signed distance
        to that plane. Returns point (B, K, V, 3) metres, normal (B, K, V, 3), gt_distance (B, K, V)
        metres (negative = inside), or None when a track has no body. Memoised per frame.
        """
        from scipy.spatial import cKDTree

        from drape.geometry.mesh_ops import vertex_normals

        n = self.window + 1
        pts, nrms, dist = [], [], []
        for k, s in self.windows[np.asarray(ids)]:
            tr = self.tracks[k]
            if tr.body_verts is None or tr.body_faces is None:
                return None
            for f in range(s + n, s + n + unroll):
                key = (int(k), int(f))
                hit = self._planes.get(key)
                if hit is None:
                    bv = np.asarray(tr.body_verts[f], dtype=np.float64)
                    x = np.asarray(tr.verts[f], dtype=np.float64)
                    _, idx = cKDTree(bv).query(x, k=1)
                    p, nr = bv[idx], vertex_normals(bv, np.asarray(tr.body_faces))[idx]
                    hit = (p.astype(np.float32), nr.astype(np.float32), np.einsum("vi,vi->v", x - p, nr).astype(np.float32))
                    self._planes[key] = hit
                pts.append(hit[0])
                nrms.append(hit[1])
                dist.append(hit[2])
        B = len(ids)
        shape = (B, unroll) + pts[0].shape
        return {"point": np.stack(pts).reshape(shape), "normal": np.stack(nrms).reshape(shape),
                "gt_distance": np.stack(dist).reshape(shape[:-1])}

    def batch(self, ids, unroll: int) -> dict[str, np.ndarray]:
        """Arrays for windows ``ids`` (B,) and ``unroll`` K <= max_unroll target frames.

        Returns history (B, i+1, V, 3) world metres, transforms (B, i+1+K, J, 4, 4),
        global (B, K, G) skeleton features of each target frame, target (B, K, V, 3) world metres.
        """
        if not 1 <= unroll <= self.max_unroll:
            raise WindowDataError(f"unroll must be in [1, {self.max_unroll}], got {unroll}")
        n = self.window + 1
        hist, trans, glob, target = [], [], [], []
        for k, s in self.windows[np.asarray(ids)]:
            tr = self.tracks[k]
            hist.append(tr.verts[s : s + n])
            trans.append(tr.transforms[s : s + n + unroll])
            glob.append(self.global_feats[k][s + n : s + n + unroll])
            target.append(tr.verts[s + n : s + n + unroll])
        return {
            "history": np.stack(hist).astype(np.float32),
            "transforms": np.stack(trans).astype(np.float32),
            "global": np.stack(glob).astype(np.float32),
            "target": np.stack(target).astype(np.float32),
        }


def fit_normalizer(reference, tracks, feature_config, *, max_samples: int = 2000, chunk: int = 32):
    """Normalisation statistics of teacher-forced samples of ``tracks`` (the training split only).

    At most ``max_samples`` target frames are used, evenly strided over each track.
    Returns a :class:`drape.model.features.Normalizer`.
    """
    from drape.model.features import NormalizerFit, sequence_samples

    n = feature_config.window + 1
    tracks = [t for t in tracks if t.frame_count > n]
    if not tracks:
        raise WindowDataError(f"normalizer: no training sequence has more than {n} frames")
    total = sum(t.frame_count - n for t in tracks)
    stride = max(1, int(np.ceil(total / max_samples)))
    fit = NormalizerFit()
    for tr in tracks:
        frames = np.arange(n, tr.frame_count, stride)
        for c in range(0, len(frames), chunk):
            s = sequence_samples(reference, tr.verts, tr.transforms, feature_config, frames=frames[c : c + chunk])
            fit.add(s["vertex"], s["global"], s["target"])
    return fit.result()


# --------------------------------------------------------------------------- from sequences


_BODIES: dict = {}


def _body(shape: BodyShape, topology: str | None = None):
    from drape.body.model import Body

    key = (shape, topology)
    if key not in _BODIES:
        _BODIES[key] = Body(shape) if topology is None else Body(shape, topology=topology)
    return _BODIES[key]


def sequence_body_shape(seq_or_meta) -> BodyShape:
    meta = seq_or_meta.meta if isinstance(seq_or_meta, Sequence) else seq_or_meta
    return BodyShape.from_dict(dict((meta or {}).get("body_shape") or {}))


def sequence_motion_name(meta: dict) -> str:
    m = (meta or {}).get("motion")
    if isinstance(m, dict):
        return str(m.get("name") or "")
    return str(m or "")


def bone_transforms_for(seq: Sequence) -> np.ndarray:
    """(F, J, 4, 4) float32 bone transforms of a simulated sequence (the body posed as the simulator posed it)."""
    body = _body(sequence_body_shape(seq))
    posed = body.pose(seq.world_rotations, seq.root_translation)
    return np.asarray(posed.skeleton.bone_transforms, dtype=np.float32)


def track_from_sequence(seq: Sequence, *, transforms: np.ndarray | None = None, name: str | None = None) -> Track:
    """A :class:`Track` of a Sequence; transforms default to :func:`bone_transforms_for` (poses the body)."""
    T = bone_transforms_for(seq) if transforms is None else np.asarray(transforms, dtype=np.float32)
    meta = dict(seq.meta or {})
    return Track(
        name=name or str(meta.get("task_id") or sequence_motion_name(meta) or "sequence"),
        motion=sequence_motion_name(meta) or (name or "sequence"),
        fps=float(seq.fps),
        verts=np.asarray(seq.garment_verts, dtype=np.float32),
        transforms=T,
        body_verts=np.asarray(seq.body_verts, dtype=np.float32),
        body_faces=np.asarray(seq.body_faces, dtype=np.int32),
        meta=meta,
    )


def build_garment_reference(garment, rest_drape: np.ndarray, shape: BodyShape, *, meta: dict | None = None, offset_space: str = "auto"):
    """The model's :class:`GarmentReference` for a :class:`drape.types.Garment` draped on body ``shape``.

    rest_drape: (V, 3) float32 metres, rest frame (the simulator's settle, ``drape_garment``).
    The binding is the garment weight transfer (:func:`drape.garment.weights.transfer_weights`),
    contact is bound to the full body.
    """
    from drape.garment.weights import transfer_weights
    from drape.model.features import build_reference

    body = _body(shape)
    rest_drape = np.asarray(rest_drape, dtype=np.float32)
    if rest_drape.shape != (garment.vert_count, 3):
        raise WindowDataError(f"garment {garment.name}: rest drape has shape {rest_drape.shape}, expected ({garment.vert_count}, 3)")
    W = transfer_weights(rest_drape, body, kind=garment.kind, faces=garment.faces)
    return build_reference(
        name=garment.name, kind=garment.kind, faces=garment.faces, atlas_uv=garment.atlas_uv, rest_drape=rest_drape,
        bone_names=body.bone_names, body_rest_verts=body.rest_verts, body_faces=body.faces,
        body_skin_weights=body.skin_weights, rest_root=body.rest_bone_heads[0], skin_weights=W,
        offset_space=offset_space, meta=dict(meta or {}), rest_heads=body.rest_bone_heads,
    )


# --------------------------------------------------------------------------- from a dataset folder


def _shape_key(shape: BodyShape) -> tuple:
    """Hashable canonical form of a body shape (defaults filled in, so equal bodies compare equal)."""
    return tuple(sorted(shape.to_dict().items()))


def _file_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}-{st.st_mtime_ns}"


def cached_bone_transforms(seq_path: Path, seq: Sequence, cache_dir: Path | None) -> np.ndarray:
    """Bone transforms of the sequence at ``seq_path``, read from / written to ``cache_dir`` (one .npz per sequence)."""
    if cache_dir is None:
        return bone_transforms_for(seq)
    key = hashlib.sha1(str(seq_path.resolve()).encode()).hexdigest()[:12]
    path = cache_dir / f"{seq_path.parent.name}-{key}.transforms.npz"
    stamp = _file_key(seq_path)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if (str(z["format"]), int(z["version"]), str(z["source_stamp"])) == (TRANSFORMS_FORMAT, TRANSFORMS_VERSION, stamp):
                    T = np.asarray(z["transforms"], dtype=np.float32)
                    if T.shape[0] == seq.frame_count:
                        return T
        except (OSError, ValueError, KeyError):
            pass
    T = bone_transforms_for(seq)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        np.savez(fh, format=np.array(TRANSFORMS_FORMAT), version=np.array(TRANSFORMS_VERSION),
                 source_stamp=np.array(stamp), transforms=T)
    os.replace(tmp, path)
    return T


def dataset_sequences(data_dir: str | os.PathLike, garment: str) -> list[dict]:
    """Finished sequences of ``garment`` in a dataset folder: dicts with task_id, path, rest_drape path, spec."""
    from drape.data.build import TaskSpec, dataset_status

    data_dir = Path(data_dir)
    st = dataset_status(data_dir)
    manifest = json.loads((data_dir / "dataset.json").read_text())
    specs = {t["task_id"]: TaskSpec.from_dict(t) for t in manifest.get("tasks", [])}
    out = []
    garments = set()
    for tid, s in sorted(st["tasks"].items()):
        if s["status"] != "done" or tid not in specs:
            continue
        spec = specs[tid]
        garments.add(spec.garment)
        if spec.garment != garment:
            continue
        folder = Path(spec.out_dir)
        if not folder.is_dir():  # the dataset was moved: resolve relative to data_dir
            folder = data_dir / "seq" / tid
        out.append({"task_id": tid, "path": folder / "sequence.npz", "rest_drape": folder / "rest_drape.npy", "spec": spec})
    if not out:
        raise WindowDataError(
            f"dataset {data_dir}: no finished sequences of garment {garment!r} (garments with finished sequences: "
            f"{', '.join(sorted(garments)) or 'none'})"
        )
    return out


def load_training_data(
    data_dir: str | os.PathLike, garment: str, *, body_shape: str | BodyShape | None = None, cache: bool = True,
    offset_space: str = "auto", progress: bool = False,
) -> TrainingData:
    """Tracks of one garment on one body shape from a ``drape dataset build`` folder, and its reference.

    body_shape: which body's sequences to use (a model has one reference drape, so one body);
    default: the average body when present, else the most common shape. Bone transforms and
    the garment reference are cached under ``DIR/train_cache`` (``cache=False``: not read or written).
    """
    from drape.sim.inputs import resolve_garment
    from drape.data.sequence import load_sequence
    from drape.model.features import GarmentReference

    data_dir = Path(data_dir)
    entries = dataset_sequences(data_dir, garment)
    shapes = Counter()
    for e in entries:
        e["shape"] = _shape_key(BodyShape.parse(e["spec"].body_shape))
        shapes[e["shape"]] += 1
    if body_shape is None:
        key = _shape_key(BodyShape()) if _shape_key(BodyShape()) in shapes else shapes.most_common(1)[0][0]
    else:
        key = _shape_key(body_shape if isinstance(body_shape, BodyShape) else BodyShape.parse(body_shape))
        if key not in shapes:
            have = "; ".join(sorted(str(dict(s)) for s in shapes))
            raise WindowDataError(f"dataset {data_dir}: no sequences of {garment} on body shape {dict(key)} (shapes: {have})")
    shape = BodyShape.from_dict(dict(key))
    entries = [e for e in entries if e["shape"] == key]
    vert_counts = {e["spec"].vert_count for e in entries}
    if len(vert_counts) > 1:
        raise WindowDataError(f"dataset {data_dir}: garment {garment} appears with several vertex counts {sorted(map(str, vert_counts))}")
    vert_count = vert_counts.pop()
    cache_dir = data_dir / CACHE_DIR_NAME if cache else None
    first = entries[0]
    rest = np.load(first["rest_drape"]).astype(np.float32)
    ref_meta = {
        "garment": garment, "vert_count": vert_count, "body_shape": shape.to_dict(),
        "sim_config": first["spec"].sim_config, "dataset": str(data_dir.resolve()), "rest_drape_task": first["task_id"],
    }
    gar = resolve_garment(garment, body_shape=shape, vert_count=vert_count)
    reference = None
    ref_path = None
    if cache_dir is not None:
        key = hashlib.sha1(json.dumps([ref_meta, offset_space, _file_key(first["rest_drape"])], sort_keys=True).encode()).hexdigest()[:12]
        ref_path = cache_dir / f"{garment}-{key}.reference.npz"
        if ref_path.is_file():
            try:
                with np.load(ref_path, allow_pickle=False) as z:
                    header = json.loads(str(z["header"]))
                    reference = GarmentReference.from_arrays(header, {k: z[k] for k in z.files if k != "header"})
            except (OSError, ValueError, KeyError):
                reference = None
            if reference is not None and reference.rest_heads is None:
                reference = None  # cached before the references kept the rest bone heads: rebuild
    if reference is None:
        reference = build_garment_reference(gar, rest, shape, meta=ref_meta, offset_space=offset_space)
        if ref_path is not None:
            ref_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = ref_path.with_name(f".{ref_path.name}.tmp-{os.getpid()}")
            with open(tmp, "wb") as fh:
                np.savez(fh, header=np.array(json.dumps(reference.header())), **reference.to_arrays())
            os.replace(tmp, ref_path)
    tracks = []
    it = entries
    if progress:
        from tqdm import tqdm

        it = tqdm(entries, desc=f"load {garment}", unit="seq")
    for e in it:
        seq = load_sequence(e["path"])
        if not np.array_equal(seq.garment_faces, reference.faces):
            raise WindowDataError(f"{e['path']}: garment faces differ from the rebuilt garment {garment}; was the library changed?")
        T = cached_bone_transforms(Path(e["path"]), seq, cache_dir)
        tracks.append(track_from_sequence(seq, transforms=T, name=e["task_id"]))
    return TrainingData(reference, tuple(tracks), np.asarray(gar.panel_uv, dtype=np.float32),
                        np.asarray(gar.verts, dtype=np.float32))


def training_data_from_sequences(sequences, garment: str | None = None, *, rest_drape: np.ndarray | None = None,
                                 garment_object=None) -> TrainingData:
    """TrainingData of in-memory simulated Sequences of one garment on one body shape.

    The garment is rebuilt from its library name (``meta['garment']['name']``, vertex count from
    ``meta['task']['vert_count']`` when present) unless ``garment_object`` is given; the reference
    drape is ``rest_drape`` or, when None, computed once with :func:`drape.sim.simulate.drape_garment`
    using the sequences' solver settings.
    """
    from drape.sim.inputs import resolve_garment

    seqs = list(sequences)
    if not seqs:
        raise WindowDataError("no sequences given")
    metas = [s.meta or {} for s in seqs]
    names = {str((m.get("garment") or {}).get("name", "")) for m in metas}
    if garment is None:
        if len(names) != 1:
            raise WindowDataError(f"sequences are of several garments {sorted(names)}; name the one to train")
        garment = names.pop()
    seqs = [s for s, m in zip(seqs, metas) if str((m.get("garment") or {}).get("name", "")) == garment]
    if not seqs:
        raise WindowDataError(f"no sequence of garment {garment!r} (garments: {sorted(names)})")
    shapes = {sequence_body_shape(s) for s in seqs}
    if len(shapes) != 1:
        raise WindowDataError(f"sequences of {garment} are on {len(shapes)} body shapes; one model needs one body shape")
    shape = shapes.pop()
    task = seqs[0].meta.get("task") or {}
    vert_count = task.get("vert_count")
    gar = garment_object if garment_object is not None else resolve_garment(garment, body_shape=shape, vert_count=vert_count)
    if rest_drape is None:
        from drape.sim.config import SimConfig
        from drape.sim.simulate import drape_garment

        solver = dict(seqs[0].meta.get("solver") or {})
        cfg = SimConfig(**solver) if solver else SimConfig()
        rest_drape = drape_garment(gar, shape, config=cfg)
    meta = {"garment": garment, "vert_count": vert_count, "body_shape": shape.to_dict(),
            "sim_config": seqs[0].meta.get("solver") or {}}
    ref = build_garment_reference(gar, rest_drape, shape, meta=meta)
    tracks = []
    for i, s in enumerate(seqs):
        if not np.array_equal(s.garment_faces, ref.faces):
            raise WindowDataError(f"sequence {i}: garment faces differ from garment {garment}")
        tr = track_from_sequence(s)
        if any(t.name == tr.name for t in tracks):
            tr = track_from_sequence(s, transforms=tr.transforms, name=f"{tr.name}-{i}")
        tracks.append(tr)
    return TrainingData(ref, tuple(tracks), np.asarray(gar.panel_uv, dtype=np.float32), np.asarray(gar.verts, dtype=np.float32))


# --------------------------------------------------------------------------- synthetic


def synthetic_training_data(motions: int = 4, frames: int = 40, *, nx: int = 6, ny: int = 6, seed: int = 0) -> TrainingData:
    """Tracks of the synthetic prism garment (:mod:`drape.model.synthetic`), one per motion ``synth0``...

    Body verts are a small prism "body" carried by the root, so penetration metrics run too.
    """
    from drape.model.synthetic import prism_garment, synthetic_motion, synthetic_reference, synthetic_sequence

    ref = synthetic_reference(nx, ny)
    bverts, bfaces, _ = prism_garment(3, 3, side=0.15, height=0.8)
    bverts = bverts + np.array([0.0, 0.0, -0.5], dtype=np.float32)
    tracks = []
    for m in range(motions):
        T = synthetic_motion(frames, seed=seed + m)
        X = synthetic_sequence(ref.verts, T)
        body = np.einsum("fab,vb->fva", T[:, 0, :3, :3], bverts) + T[:, 0, None, :3, 3]
        tracks.append(Track(name=f"synth{m}", motion=f"synth{m}", fps=30.0, verts=X, transforms=T,
                            body_verts=body.astype(np.float32), body_faces=bfaces,
                            meta={"motion": {"name": f"synth{m}"}, "garment": {"name": ref.name, "kind": ref.kind}}))
    return TrainingData(ref, tuple(tracks))
