"""Which motions train the learned model, which select it, and which measure it.

Motions are named by clip name (built-in) or file stem (BVH). The same CMU trial
can appear in both BVH conversions (``cmu/12_01`` and ``cmu-daz/12_01``): naming by
stem keeps both conversions of a held-out trial out of training.

- ``TEST_MOTIONS`` never enter a training dataset; ``drape eval`` reports on them.
- ``VAL_MOTIONS`` are simulated into the training dataset but only used for
  validation rollouts (model selection), never as training windows.
- Built-in clips in ``EXCLUDED_BUILTINS`` (floor work and acrobatics: the body
  lies or rolls on the floor, which the garments and the floor-less simulation
  are not meant for) are left out of both.
"""

from __future__ import annotations

from pathlib import Path

TEST_MOTIONS = ("07_01", "02_03", "13_11", "18_10", "turn_right1")
VAL_MOTIONS = ("dance_b", "08_05")
EXCLUDED_BUILTINS = ("backflip", "cartwheel", "crawl", "roll", "getup_facedown", "getup_faceup")


def motion_key(spec: str) -> str:
    """The name a motion spec is known by in splits: a clip name or a BVH file's stem."""
    p = Path(spec)
    return p.stem if p.suffix.lower() == ".bvh" else spec


def dataset_motions(shared_dir: str | Path) -> list[str]:
    """Every motion for the training dataset (training + validation), test motions excluded.

    Built-in clips first interleaved with the BVH clips of ``shared_dir/motions/{cmu,cmu-daz}``,
    in a fixed order that mixes categories so a partly built dataset is already varied.
    """
    from drape.motion import builtin_clips

    builtins = [c.name for c in builtin_clips() if c.name not in EXCLUDED_BUILTINS and c.name not in TEST_MOTIONS]
    root = Path(shared_dir) / "motions"
    files = sorted(str(p) for sub in ("cmu", "cmu-daz") for p in (root / sub).glob("*.bvh"))
    files = [f for f in files if motion_key(f) not in TEST_MOTIONS]
    # Interleave: one built-in, then a few files spread over the sorted (subject-ordered) list.
    order: list[str] = []
    stride = max(1, len(files) // 7)
    spread = [files[i] for start in range(stride) for i in range(start, len(files), stride)]
    bi = iter(builtins)
    for k, f in enumerate(spread):
        if k % 3 == 0:
            nxt = next(bi, None)
            if nxt:
                order.append(nxt)
        order.append(f)
    order.extend(bi)
    return order


def held_out_motions(shared_dir: str | Path) -> list[str]:
    """The test motions as specs for ``drape dataset build``: built-in clip names and the BVH files of
    ``shared_dir/motions/{cmu,cmu-daz}`` whose stem is a test motion (each trial once: ``cmu-daz``
    first, so a trial in both conversions is taken from one)."""
    from drape.motion import builtin_clips

    names = {c.name for c in builtin_clips()}
    root = Path(shared_dir) / "motions"
    out: list[str] = []
    for key in TEST_MOTIONS:
        if key in names:
            out.append(key)
            continue
        for sub in ("cmu-daz", "cmu"):
            f = root / sub / f"{key}.bvh"
            if f.is_file():
                out.append(str(f))
                break
    return out
