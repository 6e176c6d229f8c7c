"""The profile's feature names are the training DataFrame's columns, in order: batch scoring reads input
columns by those names, so a permuted list would feed the model the wrong features without an error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ferryman.train.model import names_in_column_order

pytestmark = pytest.mark.unit

FRAME = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": [5.0, 6.0]})


def test_a_dataframe_names_its_features_by_its_columns() -> None:
    """Before, a DataFrame without feature_names was profiled as features '0', '1', '2'."""
    assert names_in_column_order(FRAME, None) == ["a", "b", "c"]


def test_feature_names_in_another_order_than_the_columns_are_refused() -> None:
    with pytest.raises(ValueError, match=r"feature_names \['c', 'b', 'a'\] are not the DataFrame's columns"):
        names_in_column_order(FRAME, ["c", "b", "a"])


def test_the_same_names_and_a_plain_matrix_pass_as_given() -> None:
    assert names_in_column_order(FRAME, ["a", "b", "c"]) == ["a", "b", "c"]
    assert names_in_column_order(np.zeros((2, 3)), ["x", "y", "z"]) == ["x", "y", "z"]
    assert names_in_column_order(np.zeros((2, 3)), None) is None
