from drape.data.splits import EXCLUDED_BUILTINS, TEST_MOTIONS, VAL_MOTIONS, dataset_motions, held_out_motions, motion_key


def test_motion_key_names_bvh_by_stem():
    assert motion_key("/a/b/cmu-daz/07_01.bvh") == "07_01"
    assert motion_key("walk") == "walk"


def test_dataset_motions_hold_out_test_motions(shared_dir):
    motions = dataset_motions(shared_dir)
    keys = [motion_key(m) for m in motions]
    assert not set(keys) & set(TEST_MOTIONS), "a test motion leaked into the training dataset"
    assert not set(keys) & set(EXCLUDED_BUILTINS)
    assert set(VAL_MOTIONS) <= set(keys)
    assert len(set(motions)) == len(motions) and len(motions) > 40
    # Both conversions of a held-out CMU trial stay out: no file of a test stem anywhere.
    assert not any(motion_key(m) == "07_01" for m in motions)


def test_test_motions_are_exactly_the_held_out_ones(shared_dir):
    specs = held_out_motions(shared_dir)
    assert sorted(motion_key(m) for m in specs) == sorted(TEST_MOTIONS)
    assert not set(specs) & set(dataset_motions(shared_dir))
