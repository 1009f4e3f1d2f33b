"""Keras names fastnn does not have yet give a clear error saying so and what to use
instead (not a bare AttributeError); other unknown names get "Did you mean"."""

import pytest

import fastnn.layers
import fastnn.utils
from fastnn.utils.naming import NotInFastnnError


@pytest.mark.parametrize("name", ["LSTM", "GRU", "SimpleRNN", "Bidirectional", "Conv3D",
                                  "TimeDistributed", "MultiHeadAttention", "Multiply"])
def test_missing_layers_say_fastnn_does_not_have_them_yet(name):
    with pytest.raises(NotInFastnnError, match=f"fastnn.layers.{name} does not exist.*"
                                               f"not in fastnn yet"):
        getattr(fastnn.layers, name)


def test_from_import_keeps_the_advice():
    with pytest.raises(ImportError, match="recurrent layers are not in fastnn yet"):
        exec("from fastnn.layers import LSTM", {})
    with pytest.raises(ImportError, match="model.summary"):
        exec("from fastnn.utils import plot_model", {})


def test_missing_utils_say_what_to_use():
    with pytest.raises(NotInFastnnError, match="np.eye"):
        fastnn.utils.to_categorical  # noqa: B018


def test_the_table_holds_no_layer_that_exists():
    # a layer that arrives leaves the table (the convolution layers are absent from it)
    for name in fastnn.layers._NOT_YET:
        assert name not in fastnn.layers.REGISTRY
    for name in ("Conv1D", "Conv2D", "MaxPooling2D", "AveragePooling2D",
                 "GlobalAveragePooling2D", "ZeroPadding2D", "SpatialDropout2D"):
        assert name not in fastnn.layers._NOT_YET


def test_other_unknown_names_stay_attribute_errors_with_a_hint():
    with pytest.raises(AttributeError, match="Did you mean 'Dense'"):
        fastnn.layers.Dens  # noqa: B018
    with pytest.raises(AttributeError, match="Did you mean 'set_random_seed'"):
        fastnn.utils.set_random_sed  # noqa: B018
    assert not hasattr(fastnn.layers, "NoSuchLayer")
    assert not hasattr(fastnn.layers, "__wrapped__")


def test_existing_names_still_import():
    from fastnn.layers import Dense, Merge  # noqa: F401
    from fastnn.utils import set_random_seed  # noqa: F401


def test_top_level_typos_get_a_hint():
    import fastnn
    with pytest.raises(AttributeError, match="Did you mean 'Sequential'"):
        fastnn.Sequentail  # noqa: B018
    with pytest.raises(AttributeError, match="Did you mean 'load_model'"):
        fastnn.load_modle  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'zzz'.$"):
        fastnn.zzz  # noqa: B018


def test_top_level_keras_modules_fastnn_lacks_say_so():
    import fastnn
    with pytest.raises(NotInFastnnError, match="fastnn.ops does not exist.*NumPy"):
        fastnn.ops  # noqa: B018
    with pytest.raises(ImportError, match="pretrained"):
        exec("from fastnn import applications", {})
    for name in fastnn._NOT_YET:
        assert name not in fastnn.__all__ and name not in vars(fastnn)
