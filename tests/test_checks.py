"""The shared validation helpers: canonical values back, one clear sentence for anything else."""

import math

import numpy as np
import pytest

from gan_core.core.checks import SEED_MAX, check_choice, check_count, check_fraction, check_number, check_seed, shown


@pytest.mark.parametrize("seed", [0, 5, 7.0, SEED_MAX, np.int64(3)])
def test_check_seed_accepts_whole_numbers(seed):
    assert check_seed(seed) == int(seed)


@pytest.mark.parametrize("seed", [-1, SEED_MAX + 1, 1.5, math.nan, math.inf, "3", None, True, [1], 10**400, -(10**400)])
def test_check_seed_rejects_with_the_accepted_range(seed):
    with pytest.raises(ValueError, match=f"The seed must be a whole number from 0 to {SEED_MAX}, got"):
        check_seed(seed)


@pytest.mark.parametrize("value", [math.nan, -math.inf, 2.5, -0.1, "1", None, False, 10**400])
def test_check_number_rejects_nan_out_of_range_huge_and_wrong_types(value):
    with pytest.raises(ValueError, match=r"psi must be a number from 0 to 2, got"):
        check_number(value, "psi", 0.0, 2.0)


def test_check_count_choice_and_fraction():
    assert check_count(4.0, "Frames", 2, 64) == 4
    for bad in (1, 65, 3.5, 10**9, 10**400, math.nan, "8"):
        with pytest.raises(ValueError, match="Frames must be a whole number from 2 to 64"):
            check_count(bad, "Frames", 2, 64)
    assert check_choice("lerp", "Interpolation", ("lerp", "slerp")) == "lerp"
    with pytest.raises(ValueError, match="Interpolation must be one of lerp, slerp; got 'cubic'"):
        check_choice("cubic", "Interpolation", ("lerp", "slerp"))
    assert check_fraction(0.5, "beta1") == 0.5
    with pytest.raises(ValueError, match=r"beta1 must be in \[0, 1\)"):
        check_fraction(1.0, "beta1")


def test_errors_quote_only_a_short_prefix_of_what_they_got():
    huge = "x" * 10_000
    assert len(shown(huge)) <= 60 and shown(huge).endswith("...")
    with pytest.raises(ValueError) as caught:
        check_seed(huge)
    assert len(str(caught.value)) < 200
