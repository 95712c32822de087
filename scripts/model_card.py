"""Write the model card (Markdown) of a bundled garment model from its training and evaluation files.

    python scripts/model_card.py --model src/drape/assets/models/tshirt.npz \
        --train-json runs/models/tshirt.train.json --eval-json runs/eval/tshirt_test.json \
        [--long-json runs/eval/tshirt_long.json] [--onnx-json runs/eval/tshirt_onnx.json] \
        [--base-train-json runs/models/tshirt.base.train.json] [--retrain "scripts/train_models.sh"] --out src/drape/assets/models/tshirt.md

Every figure in the card is read from those files (written by ``drape train`` and ``drape eval``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from drape.data.mirror import MIRROR_SUFFIX


def tether_line(sim: dict) -> list[str]:
    """A line on the tether when the simulation settings name one (None: the garment kind's default)."""
    if "tether" not in sim:
        return []
    from drape.sim.config import DEFAULT_TETHER

    value = sim["tether"]
    said = (f"the per-kind default ({', '.join(f'{k} {v}' for k, v in sorted(DEFAULT_TETHER.items()))}; other kinds 0)"
            if value is None else str(value))
    return [f"- Tether: {said}; each vertex is pulled back towards {sim.get('tether_slack', 0.01)} m plus that "
            "fraction of its rest depth below the garment's top from its skinned rest drape (`drape.sim.simulate`)."]


def _f(v, digits=2, unit=""):
    if v is None:
        return "n/a"
    return f"{v:.{digits}f}{unit}"


def _seq_table(rows) -> list[str]:
    out = ["| sequence | frames | vertex error mm | LBS mm | ratio | penetration % | GT penetration % | stretch p99 | jitter m/s² |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = r["vertex_error_mm"] / r["lbs_vertex_error_mm"] if r["lbs_vertex_error_mm"] else None
        out.append(f"| {r['motion']} | {r['frames']} | {_f(r['vertex_error_mm'])} | {_f(r['lbs_vertex_error_mm'])} | "
                   f"{_f(ratio)} | {_f(r['penetration_pct'], 3)} | {_f(r['gt_penetration_pct'], 3)} | "
                   f"{_f(r['stretch_p99'], 3)} | {_f(r['jitter'])} |")
    return out


def _replay(tcfg: dict) -> str:
    if not tcfg.get("replay_fraction"):
        return ""
    return (f"; rollout replay: from step {tcfg['replay_start']}, {tcfg['replay_fraction']:.0%} of each batch takes its "
            f"history from the model's own {tcfg['replay_frames']}-frame rollouts")


def _training(tr: dict, base: dict | None) -> list[str]:
    """The card's training bullets: one stage, or a base run and the fine-tuning run started from its model."""

    def stage(t: dict, label: str, tail: str) -> list[str]:
        c = t["train_config"]
        start = f"fine-tuned from the {'base run' if base else c['init_model']}'s model: " if c.get("init_model") else ""
        return [
            f"- {label}{start}{t['steps']} steps, batch {c['batch_size']}, unroll K up to {c['unroll']} "
            f"(curriculum over {c['curriculum']:.0%} of the steps), history noise {c['noise_std']} m per vertex and a "
            f"{c.get('drift_noise_std', 0)} m smooth drift field{_replay(c)}{_mirror(c)}, lr {c['lr']}, "
            f"seed {c['seed']}, {t['threads']} thread(s): {t['sec_per_step']:.3f} s/step "
            f"(about {t['steps'] * t['sec_per_step'] / 60:.0f} min of steps, validation excluded).",
            f"- {label}{'best' if label else 'Best'} validation rollout ({c['val_frames']} frames): {_f(t['best_val_mm'])} mm at step "
            f"{t['best_step']} (LBS {_f(t['lbs_val_mm'])} mm){_weights(t)}{tail}.",
        ]

    def kept(t: dict, best_tail: str) -> str:
        if t.get("kept") == "last":
            last = [v for v in t.get("val_history", []) if v.get("step") == t["steps"] and "val_mm" in v]
            at = f", validation {_f(last[-1]['val_mm'])} mm" if last else ""
            return f"; the model is the final weights of step {t['steps']}{at} (`--keep last`: a fixed schedule, validation only reported)"
        return best_tail

    if base is None:
        return stage(tr, "", kept(tr, "; those weights are the model"))
    total = (base["steps"] * base["sec_per_step"] + tr["steps"] * tr["sec_per_step"]) / 60
    return [*stage(base, "Base run: ", "; the fine-tuning starts from those weights"),
            *stage(tr, "Fine-tuning: ", kept(tr, "; those weights are the model (step 0: the base model)")),
            f"- Both stages: about {total:.0f} min of steps."]


def _joints(cfg: dict) -> str:
    """The bones whose rotations the skeleton features read."""
    joints = [j.strip() for j in str(cfg.get("skeleton_joints", "")).split(",") if j.strip()]
    return f"{len(joints)} bones: {', '.join(joints)}" if joints else "every bone"


def _weights(t: dict) -> str:
    """Which weights won validation: the moving average, or (``--swa-start``) the uniform mean of the validated ones."""
    c = t["train_config"]
    if not c.get("swa_start"):
        return ""
    kind = {"swa": "the uniform mean of the validated moving-average weights",
            "ema": "the moving-average weights", "raw": "the raw weights"}.get(t.get("best_weights"), "")
    return f", by {kind} (weight averaging from step {c['swa_start']}, `--swa-start`)" if kind else ""


def _mirror(tcfg: dict) -> str:
    out = "; every training sequence also enters as its left-right mirror image (`--mirror`)" if tcfg.get("mirror") else ""
    if tcfg.get("clip_balance"):
        out += f"; windows drawn with clip balance {tcfg['clip_balance']} (`--clip-balance`)"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--train-json", required=True)
    ap.add_argument("--eval-json", required=True, help="drape eval JSON on the held-out test motions")
    ap.add_argument("--long-json", default=None, help="drape eval JSON of the long looped rollout")
    ap.add_argument("--onnx-json", default=None, help="drape eval JSON of the same test motions with --backend onnx")
    ap.add_argument("--parity-json", default=None, help="benchmarks/onnx_parity.py output (torch vs ONNX, ms/frame)")
    ap.add_argument("--base-train-json", default=None,
                    help="train.json of the run the model was fine-tuned from (drape train --init-model)")
    ap.add_argument("--retrain", default="scripts/train_models.sh", help="the command that retrains the model")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    from drape.model.dynamics import GarmentDynamicsModel
    from drape.model.net import param_count

    model = GarmentDynamicsModel.load(args.model)
    tr = json.loads(Path(args.train_json).read_text())
    ev = json.loads(Path(args.eval_json).read_text())
    base = json.loads(Path(args.base_train_json).read_text()) if args.base_train_json else None
    ref = model.reference
    meta = ref.meta or {}
    name = ref.name
    size_kb = Path(args.model).stat().st_size / 1024
    ratio = ev["vertex_error_mm"] / ev["lbs_vertex_error_mm"] if ev.get("lbs_vertex_error_mm") else None
    cfg, tcfg = tr["model_config"], tr["train_config"]
    lines = [
        f"# Model card: `{name}`",
        "",
        f"Garment-dynamics model of drape for the `{name}` garment ({ref.vert_count} vertices, offset space "
        f"`{ref.offset_space}`) on the average anny body. File: `{Path(args.model).name}` ({size_kb:.0f} kB, "
        f"{param_count(model.net):,} network parameters). `drape animate --garment {name}` picks it.",
        "",
        "## Model",
        "",
        f"- FiLM U-Net over a {cfg['image_size']}×{cfg['image_size']} UV feature map, widths {cfg['widths']}; "
        f"window i = {cfg['window']}; the network predicts the `{cfg.get('prediction', 'delta')}` "
        "(canonical frame), posed by the garment's frame weights.",
        f"- Inputs: offsets, velocities{', accelerations' if cfg['window'] >= 2 else ''}, skeleton drive, contact "
        f"(bound body point, threshold {cfg['contact_threshold']} m, {cfg.get('contact_flag', 'step')} flag), static "
        f"reference and body-part channels{', hand channels (vector to and proximity of each forearm and hand)' if cfg.get('hands') else ''}; "
        f"skeleton (6D rotations of {_joints(cfg)}, root motion) through FiLM.",
        "",
        "## Training data",
        "",
        f"- Simulated with Newton (Style3D, settings below) by `scripts/build_training_data.sh`: "
        f"{sum(1 for n in tr['train_sequences'] if not n.endswith(MIRROR_SUFFIX))} training sequences on "
        f"{len(tr['train_motions'])} motions{' (and their mirror images)' if tcfg.get('mirror') else ''}, "
        f"{tr['windows']} training windows; validation (model selection only): {', '.join(tr['val_motions'])}.",
        "- The build simulates its motions in a fixed order (`drape.data.splits.dataset_motions`) and can be "
        "stopped at any point; training used the sequences present when it started (listed in "
        f"`{name}.train.json`). `clip@S` is the 3 s segment of a long clip from S seconds on.",
        f"- Training motions: {', '.join(tr['train_motions'])}.",
        "- Held-out test motions (never simulated into the training dataset): "
        f"{', '.join(sorted({r['motion'] for r in ev['sequences']}))}.",
        "- Motion data: built-in DeepMimic clips (pybullet) and CMU motion-capture BVH clips "
        "(mocap.cs.cmu.edu; the database was created with funding from NSF EIA-0196217).",
        f"- Simulation: `{json.dumps(meta.get('sim_config', {}), sort_keys=True)}`",
        *tether_line(meta.get("sim_config", {})),
        "",
        "## Training",
        "",
        *_training(tr, base),
        f"- Retrain: `{args.retrain}`",
        "",
        "## Measured on held-out motions",
        "",
        f"Full autoregressive rollouts from the first {cfg['window'] + 1} simulated frames ({ev['init']} init), "
        "never teacher-forced; penetration = % of garment vertices more than 1 mm inside the body.",
        "",
        f"- **vertex error {_f(ev['vertex_error_mm'])} mm** against LBS {_f(ev['lbs_vertex_error_mm'])} mm "
        f"(ratio {_f(ratio)}), over {ev['frames']} predicted frames;",
        f"- penetration {_f(ev['penetration_pct'], 3)} % (ground truth {_f(ev['gt_penetration_pct'], 3)} %, "
        f"LBS {_f(ev.get('lbs_penetration_pct'), 3)} %); stretch p99 {_f(ev['stretch_p99'], 3)} "
        f"(ground truth {_f(ev['gt_stretch_p99'], 3)}); jitter {_f(ev['jitter'])} m/s² (LBS {_f(ev.get('lbs_jitter'))});",
        f"- model {_f(ev['model_ms_per_frame'])} ms/frame (torch, one thread, in the evaluation run) against physics "
        f"{_f(ev['physics_sec_per_frame'])} s/frame: speedup ×{_f(ev['speedup'], 0)}.",
        "",
        *_seq_table(ev["sequences"]),
    ]
    if args.onnx_json:
        ox = json.loads(Path(args.onnx_json).read_text())
        lines += ["", f"ONNX Runtime backend on the same rollouts: {_f(ox['vertex_error_mm'])} mm, "
                      f"{_f(ox['model_ms_per_frame'])} ms/frame (speedup ×{_f(ox['speedup'], 0)})."]
    if args.parity_json:
        pj = json.loads(Path(args.parity_json).read_text())
        lines += ["", f"`benchmarks/onnx_parity.py` ({pj['frames']} frames of `{pj['motion']}`, one thread each): torch "
                      f"{_f(pj['torch_ms_per_frame'])} ms/frame, ONNX Runtime {_f(pj['onnx_ms_per_frame'])} ms/frame, "
                      f"max vertex deviation {pj['max_deviation_mm']:.4f} mm."]
    if args.long_json:
        lg = json.loads(Path(args.long_json).read_text())
        for r in lg["sequences"]:
            seen = "a training motion" if r["motion"] in tr["train_motions"] else "not a training motion"
            lines += ["", f"Long rollout, `{r['motion']}` ({seen}) looped, {r['frames']} predicted frames: mean "
                          f"{_f(r['vertex_error_mm'])} mm (LBS {_f(r['lbs_vertex_error_mm'])} mm), frames 100–200 "
                          f"{_f(r.get('vertex_error_mm_100_200'))} mm, last 100 {_f(r.get('vertex_error_mm_last100'))} mm "
                          f"(ratio {_f(r.get('drift_ratio'))}), NaN: {'yes' if r.get('nan') else 'no'}."]
    lines += ["", "Reproduce: `scripts/eval_models.sh` (needs the ground truth of `scripts/build_eval_data.sh`).", ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
