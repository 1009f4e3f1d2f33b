"""Programs written for Keras run on fastnn as printed, only the imports changed.

The Wide & Deep program joins two Sequential models with Keras 1's
``Merge([wide, deep], mode='concat', concat_axis=1)`` and fits on ``[X_train,
X_train]``; another program misspells its loss and gets "Did you mean ...?".  The
programs' data loaders (``load``, ``preprocess``, not printed) are small stand-ins here.
"""

import textwrap
import warnings

import numpy as np
import pytest

from fastnn.models import Sequential

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

# As printed, only "keras" changed to "fastnn" in the imports.
WIDE_AND_DEEP = textwrap.dedent('''
    import pandas as pd
    from fastnn.models import Sequential #序贯模型,从底向上搭积木
    from fastnn.layers import Dense, Merge #dense层(全连接)和merge层(拼接操作)
    from sklearn.preprocessing import MinMaxScaler

    def main():
        df_train = load('adult.data')
        df_test = load('adult.test')
        df = pd.concat([df_train, df_test])
        train_len = len(df_train)

        X, y = preprocess(df)
        X_train = X[:train_len]
        y_train = y[:train_len]
        X_test = X[train_len:]
        y_test = y[train_len:]

        #Wide部分
        wide = Sequential() #初始化左边的wide部分
        wide.add(Dense(1, input_dim=X_train.shape[1]))

        #Deep部分
        deep = Sequential()
        # TODO: 添加embedding层
        deep.add(Dense(input_dim=X_train.shape[1], output_dim=100, activation='relu')) #一个全连接
        #deep.add(Dense(100, activation='relu'))#一个激活函数
        deep.add(Dense(input_dim=100, output_dim=32, activation='relu')) #再加第二次
        #deep.add(Dense(50, activation='relu'))#一个激活函数
        deep.add(Dense(input_dim=32, output_dim=8))
        deep.add(Dense(1, activation='sigmoid')) #1是最后输出1个节点 过一个sigmoid

        #Wide和Deep拼接
        model = Sequential()
        model.add(Merge([wide, deep], mode='concat', concat_axis=1)) #左边和右边的连接在一起
        model.add(Dense(1, activation='sigmoid')) #最后输出一个全连接

        #编译模型
        model.compile(
        optimizer='rmsprop', #可以用SGD
        loss='binary_crossentropy',
        metrics=['accuracy']
        )

        #模型训练
        model.fit([X_train, X_train], y_train, nb_epoch=10, batch_size=32)
''')


def _load(name):
    rng = np.random.default_rng(0 if name == "adult.data" else 1)
    n = 160 if name == "adult.data" else 40
    df = pd.DataFrame(rng.normal(size=(n, 6)), columns=list("abcdef"))
    df["income"] = (df["a"] + df["b"] > 0).astype(int)
    return df


def _preprocess(df):
    from sklearn.preprocessing import MinMaxScaler
    return (MinMaxScaler().fit_transform(df.drop(columns="income").to_numpy()),
            df["income"].to_numpy())


def test_wide_and_deep_runs_as_printed(monkeypatch, tmp_path, capsys):
    fitted = []
    original_fit = Sequential.fit

    def recording_fit(self, *args, **kwargs):
        history = original_fit(self, *args, **kwargs)
        fitted.append((self, args, history))
        return history
    monkeypatch.setattr(Sequential, "fit", recording_fit)
    namespace = {"load": _load, "preprocess": _preprocess, "__name__": "seed_program"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(WIDE_AND_DEEP, "wide_and_deep.py", "exec"), namespace)
        namespace["main"]()
    deprecations = [str(w.message) for w in caught if w.category is DeprecationWarning]
    assert any("Merge" in m and "Concatenate(axis=1)" in m for m in deprecations)
    model, args, history = fitted[-1]
    assert len(history.history["loss"]) == 10  # nb_epoch=10
    assert set(history.history) == {"loss", "accuracy"}
    assert [type(layer).__name__ for layer in model.layers] == ["Merge", "Dense"]
    x = args[0]
    assert isinstance(x, list) and len(x) == 2
    # the model saves and loads like any other
    path = str(tmp_path / "wide_and_deep.fastnn")
    model.save(path)
    from fastnn.models import load_model
    np.testing.assert_array_equal(load_model(path).predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_misspelt_loss_of_a_printed_program_gets_did_you_mean():
    from fastnn.layers import Dense
    model = Sequential()
    model.add(Dense(input_dim=10, units=500, activation='sigmoid'))
    model.add(Dense(units=500, activation='sigmoid'))
    model.add(Dense(units=10, activation='softmax'))
    with pytest.raises(ValueError, match="Did you mean 'categorical_crossentropy'\\?"):
        model.compile(loss='categotial_crossentropy', optimizer='adam', metrics=['accuracy'])
