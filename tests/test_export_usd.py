"""USD export: stage metadata and time-sampled points read back with pxr."""

import numpy as np
import pytest

from drape.types import DrapeError

pytest.importorskip("pxr")


@pytest.fixture(scope="module")
def seq(body):
    from drape.export.sample import synthetic_sequence

    return synthetic_sequence(body, frame_count=5, fps=30.0, garment_rings=5, garment_segments=16)


@pytest.mark.parametrize("suffix", [".usda", ".usdc"])
def test_round_trip_and_metadata(seq, tmp_path, suffix):
    from pxr import Usd, UsdGeom

    from drape.export.usd import export_usd, read_usd_sequence

    path = export_usd(tmp_path / f"avatar{suffix}", seq, garment_uv=seq.meta["garment_uv"])
    stage = Usd.Stage.Open(str(path))
    assert UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.z
    assert UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    assert stage.GetTimeCodesPerSecond() == 30.0 and stage.GetFramesPerSecond() == 30.0
    assert (stage.GetStartTimeCode(), stage.GetEndTimeCode()) == (0.0, 4.0)
    assert stage.GetDefaultPrim().GetPath() == "/drape"
    garment = UsdGeom.Mesh(stage.GetPrimAtPath("/drape/garment"))
    assert garment.GetDoubleSidedAttr().Get() is True
    st = UsdGeom.PrimvarsAPI(garment).GetPrimvar("st")
    assert st.GetInterpolation() == UsdGeom.Tokens.vertex
    np.testing.assert_allclose(np.asarray(st.Get()), seq.meta["garment_uv"])
    back = read_usd_sequence(path)
    np.testing.assert_array_equal(back["frames"], np.arange(5))
    np.testing.assert_array_equal(back["body_verts"], seq.body_verts)
    np.testing.assert_array_equal(back["garment_verts"], seq.garment_verts)
    np.testing.assert_array_equal(back["garment_faces"], seq.garment_faces)
    assert back["up_axis"] == "Z" and back["meta"]["motion"] == "swing"
    # USD interpolates between time samples: halfway is the mean of two frames.
    mid = np.asarray(garment.GetPointsAttr().Get(Usd.TimeCode(1.5)))
    np.testing.assert_allclose(mid, (seq.garment_verts[1] + seq.garment_verts[2]) / 2, atol=1e-6)
    ext = np.asarray(garment.GetExtentAttr().Get(Usd.TimeCode(3)))
    np.testing.assert_allclose(ext, [seq.garment_verts[3].min(0), seq.garment_verts[3].max(0)])


def test_every_and_per_corner_uv(seq, tmp_path):
    from pxr import Usd, UsdGeom

    from drape.export.usd import export_usd, read_usd_sequence

    corner = seq.meta["garment_uv"][seq.garment_faces]
    path = export_usd(tmp_path / "a.usd", seq, every=2, garment_uv=corner)
    back = read_usd_sequence(path)
    np.testing.assert_array_equal(back["frames"], [0, 2, 4])
    np.testing.assert_array_equal(back["garment_verts"][1], seq.garment_verts[2])
    stage = Usd.Stage.Open(str(path))
    st = UsdGeom.PrimvarsAPI(stage.GetPrimAtPath("/drape/garment")).GetPrimvar("st")
    assert st.GetInterpolation() == UsdGeom.Tokens.faceVarying and len(st.Get()) == corner.size // 2


def test_errors(seq, tmp_path):
    from drape.export.usd import export_usd, read_usd_sequence

    with pytest.raises(DrapeError, match="expected a .usd, .usda or .usdc"):
        export_usd(tmp_path / "a.abc", seq)
    from pxr import Usd

    stage = Usd.Stage.CreateNew(str(tmp_path / "other.usda"))
    stage.GetRootLayer().Save()
    with pytest.raises(DrapeError, match="expected format 'drape.usd'"):
        read_usd_sequence(tmp_path / "other.usda")


def test_usd_validators_report_nothing(seq, tmp_path):
    from pxr import Usd

    UsdValidation = pytest.importorskip("pxr.UsdValidation")
    from drape.export.usd import export_usd

    path = export_usd(tmp_path / "v.usdc", seq, garment_uv=seq.meta["garment_uv"])
    reg = UsdValidation.ValidationRegistry()
    validators = [reg.GetOrLoadValidatorByName(str(m.name)) for m in reg.GetAllValidatorMetadata()]
    errors = UsdValidation.ValidationContext(validators).Validate(Usd.Stage.Open(str(path)))
    assert [e.GetMessage() for e in errors] == []
