import pytest

from slolab.envconfig import env_float, env_int


def test_defaults_when_unset_or_blank() -> None:
    assert env_int({}, "N", 3, 1, 5) == 3
    assert env_float({"X": "  "}, "X", 0.5, 0, 1) == 0.5


def test_values_are_parsed() -> None:
    assert env_int({"N": " 4 "}, "N", 3, 1, 5) == 4
    assert env_float({"X": "0.25"}, "X", 0.5, 0, 1) == 0.25


@pytest.mark.parametrize(
    ("value", "message"),
    [("many", "N must be an integer, got 'many'"), ("2.5", "integer"), ("9", "between 1 and 5")],
)
def test_bad_integers_name_the_variable(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        env_int({"N": value}, "N", 3, 1, 5)


@pytest.mark.parametrize("value", ["fast", "nan", "-1", "inf"])
def test_bad_numbers_name_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match=r"^X must be"):
        env_float({"X": value}, "X", 0.5, 0, 1)
