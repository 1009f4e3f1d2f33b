"""fastnn.datasets: the shipped digits data and the download-once cache.

Offline only: every download here reads a local file through a ``file://`` URL
or a replaced fetch function, and an autouse fixture makes any socket
connection fail the test.
"""

import gzip
import hashlib
import os
import socket
import urllib.error

import numpy as np
import pytest

from fastnn.datasets import _download, digits, fashion_mnist, mnist
from fastnn.datasets._download import get_file


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    """No network, and a private FASTNN_HOME so nothing lands in ~/.fastnn."""

    def refuse(*args, **kwargs):
        raise AssertionError("tests/api/test_datasets.py must never open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("FASTNN_HOME", str(tmp_path / "fastnn_home"))


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _serve(tmp_path, name, data):
    """Write ``data`` under a 'server' directory; return its file:// URL."""
    server = tmp_path / "server"
    server.mkdir(exist_ok=True)
    path = server / name
    path.write_bytes(data)
    return path.as_uri()


def _no_fetch(monkeypatch):
    def fail(origin, out):
        raise AssertionError(f"unexpected fetch of {origin}")

    monkeypatch.setattr(_download, "_fetch", fail)


# ----------------------------------------------------------------------------- digits


def test_digits_shapes_dtypes_and_ranges():
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    assert x_train.shape == (1438, 64) and x_test.shape == (359, 64)
    assert y_train.shape == (1438,) and y_test.shape == (359,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    x = np.concatenate([x_train, x_test])
    y = np.concatenate([y_train, y_test])
    assert x.min() == 0 and x.max() == 16
    assert set(np.unique(y)) == set(range(10))


def test_digits_split_is_a_partition_of_the_whole_dataset():
    (x_train, y_train), (x_test, y_test) = digits.load_data(test_split=0.3, seed=7)
    (x_all, y_all), _ = digits.load_data(test_split=0.0)
    assert len(y_train) + len(y_test) == len(y_all) == 1797
    both = np.concatenate([np.column_stack([x_train, y_train]), np.column_stack([x_test, y_test])])
    whole = np.column_stack([x_all, y_all])
    # Same multiset of rows: sort lexicographically and compare.
    key = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_array_equal(key(both), key(whole))


def test_digits_is_deterministic_per_seed():
    a = digits.load_data(seed=113)
    b = digits.load_data(seed=113)
    c = digits.load_data(seed=114)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[1][0], c[1][0])


@pytest.mark.parametrize("test_split", [0.0, 0.1, 0.2, 0.25, 0.5, 0.9])
def test_digits_split_sizes_and_stratification(test_split):
    (_, y_train), (_, y_test) = digits.load_data(test_split=test_split, seed=3)
    assert len(y_test) == round(1797 * test_split)
    assert len(y_train) == 1797 - len(y_test)
    whole = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    test_counts = np.bincount(y_test, minlength=10)
    # Every class holds its share of the test set, to within one sample.
    assert np.all(np.abs(test_counts - whole * test_split) <= 1.0)


def test_digits_zero_test_split_gives_empty_arrays_of_the_right_shape():
    (x_train, y_train), (x_test, y_test) = digits.load_data(test_split=0)
    assert x_train.shape == (1797, 64)
    assert x_test.shape == (0, 64) and x_test.dtype == np.uint8
    assert y_test.shape == (0,) and y_test.dtype == np.uint8


def test_digits_returns_private_writable_copies():
    (x_train, _), _ = digits.load_data()
    x_train[:] = 255
    (again, _), _ = digits.load_data()
    assert again.max() == 16


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, float("nan"), "0.2", None, True])
def test_digits_rejects_bad_test_split(bad):
    with pytest.raises(ValueError, match="test_split") as info:
        digits.load_data(test_split=bad)
    assert f"Received: test_split={bad!r}" in str(info.value)


def test_digits_error_message_format():
    with pytest.raises(ValueError, match=r"\[0, 1\).*Received: test_split=1\.5"):
        digits.load_data(test_split=1.5)


@pytest.mark.parametrize("bad", [-1, 1.5, "1", None, False])
def test_digits_rejects_bad_seed(bad):
    with pytest.raises(ValueError, match=r"seed.*Received: seed="):
        digits.load_data(seed=bad)


def test_digits_accepts_numpy_scalars():
    a = digits.load_data(test_split=np.float32(0.5), seed=np.int64(5))
    b = digits.load_data(test_split=0.5, seed=5)
    np.testing.assert_array_equal(a[1][1], b[1][1])


def test_digits_citation_descr_and_license_file():
    assert "10.24432/C50P49" in digits.citation()
    assert "Alpaydin" in digits.citation() and "Kaynak" in digits.citation()
    bib = digits.citation("bibtex")
    assert bib.startswith("@misc{") and "10.24432/C50P49" in bib
    with pytest.raises(ValueError, match="Received: style='apa'"):
        digits.citation("apa")
    assert "CC BY 4.0" in digits.DESCR and "1,797" in digits.DESCR
    text = open(digits._LICENSE_FILE, encoding="utf-8").read()
    for needle in ("Alpaydin", "Kaynak", "10.24432/C50P49", "CC BY 4.0", "1998"):
        assert needle in text


def test_digits_reaches_modest_accuracy_with_a_nearest_centroid_baseline():
    # A sanity check that x and y line up: class centroids classify well.
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    centroids = np.stack([x_train[y_train == c].mean(0) for c in range(10)])
    d = ((x_test[:, None, :].astype(float) - centroids[None]) ** 2).sum(-1)
    assert (d.argmin(1) == y_test).mean() > 0.85


# ----------------------------------------------------------------------------- get_file


def _leftovers(directory):
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def test_get_file_downloads_verifies_and_stores(tmp_path):
    data = b"hello fastnn" * 1000
    url = _serve(tmp_path, "blob.bin", data)
    cache = tmp_path / "cache"
    path = get_file("blob.bin", url, file_hash=_sha256(data), cache_dir=cache)
    assert path == str(cache / "blob.bin")
    assert open(path, "rb").read() == data
    assert _leftovers(cache) == ["blob.bin"]  # no temporary file left behind


def test_get_file_accepts_prefixed_uppercase_hash_and_subdir(tmp_path):
    data = b"abc"
    url = _serve(tmp_path, "abc.txt", data)
    path = get_file(
        "abc.txt", url, file_hash="sha256:" + _sha256(data).upper(),
        cache_dir=tmp_path / "c", cache_subdir="sub",
    )
    assert path == str(tmp_path / "c" / "sub" / "abc.txt")


def test_get_file_refuses_a_checksum_mismatch_and_leaves_nothing(tmp_path):
    url = _serve(tmp_path, "blob.bin", b"tampered")
    cache = tmp_path / "cache"
    expected = _sha256(b"original")
    with pytest.raises(ValueError, match="Checksum mismatch") as info:
        get_file("blob.bin", url, file_hash=expected, cache_dir=cache)
    message = str(info.value)
    assert expected in message and _sha256(b"tampered") in message
    assert str(cache / "blob.bin") in message  # says where to put it by hand
    assert _leftovers(cache) == []


def test_get_file_reuses_the_cache_without_fetching(tmp_path, monkeypatch):
    data = b"cached"
    url = _serve(tmp_path, "blob.bin", data)
    cache = tmp_path / "cache"
    first = get_file("blob.bin", url, file_hash=_sha256(data), cache_dir=cache)
    _no_fetch(monkeypatch)
    os.remove(tmp_path / "server" / "blob.bin")  # the origin is gone too
    assert get_file("blob.bin", url, file_hash=_sha256(data), cache_dir=cache) == first


def test_get_file_without_hash_reuses_any_cached_file(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "x.bin").write_bytes(b"whatever")
    _no_fetch(monkeypatch)
    assert get_file("x.bin", "https://example.invalid/x.bin", cache_dir=cache) == str(cache / "x.bin")


def test_get_file_replaces_a_corrupt_cached_file(tmp_path):
    data = b"good bytes"
    url = _serve(tmp_path, "blob.bin", data)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blob.bin").write_bytes(b"bad bytes")
    with pytest.warns(RuntimeWarning, match="downloaded again"):
        path = get_file("blob.bin", url, file_hash=_sha256(data), cache_dir=cache)
    assert open(path, "rb").read() == data
    assert _leftovers(cache) == ["blob.bin"]


def test_get_file_keeps_old_file_when_redownload_mismatches(tmp_path):
    url = _serve(tmp_path, "blob.bin", b"still wrong")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "blob.bin").write_bytes(b"bad bytes")
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="Checksum mismatch"):
        get_file("blob.bin", url, file_hash=_sha256(b"right"), cache_dir=cache)
    assert _leftovers(cache) == ["blob.bin"]
    assert (cache / "blob.bin").read_bytes() == b"bad bytes"


def test_get_file_offline_error_says_where_to_place_the_file(tmp_path, monkeypatch):
    def offline(origin, out):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(_download, "_fetch", offline)
    cache = tmp_path / "cache"
    digest = _sha256(b"x")
    with pytest.raises(OSError) as info:
        get_file("mnist.npz", "https://example.invalid/mnist.npz", file_hash=digest, cache_dir=cache)
    message = str(info.value)
    assert "Could not download mnist.npz" in message
    assert "name resolution" in message
    assert f"place it at {cache / 'mnist.npz'}" in message and digest in message
    assert _leftovers(cache) == []


def test_get_file_http_error_names_the_status(tmp_path, monkeypatch):
    def not_found(origin, out):
        raise urllib.error.HTTPError(origin, 404, "Not Found", {}, None)

    monkeypatch.setattr(_download, "_fetch", not_found)
    with pytest.raises(OSError, match=r"HTTP error 404 \(Not Found\)"):
        get_file("b", "https://example.invalid/b", cache_dir=tmp_path / "cache")
    assert _leftovers(tmp_path / "cache") == []


def test_get_file_missing_local_origin_is_an_oserror(tmp_path):
    missing = (tmp_path / "nowhere" / "blob.bin").as_uri()
    with pytest.raises(OSError, match="place it at"):
        get_file("blob.bin", missing, file_hash=_sha256(b"x"), cache_dir=tmp_path / "cache")
    assert _leftovers(tmp_path / "cache") == []


def test_get_file_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    def half_then_drop(origin, out):
        out.write(b"x" * 5000)
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(_download, "_fetch", half_then_drop)
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match="connection reset"):
        get_file("blob.bin", "https://example.invalid/b", file_hash=_sha256(b"x"), cache_dir=cache)
    assert _leftovers(cache) == []

    def interrupted(origin, out):
        out.write(b"x" * 5000)
        raise KeyboardInterrupt

    monkeypatch.setattr(_download, "_fetch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        get_file("blob.bin", "https://example.invalid/b", file_hash=_sha256(b"x"), cache_dir=cache)
    assert _leftovers(cache) == []


def test_get_file_default_cache_dir_follows_fastnn_home(tmp_path, monkeypatch):
    home = tmp_path / "elsewhere"
    monkeypatch.setenv("FASTNN_HOME", str(home))
    assert _download.default_cache_dir() == str(home / "datasets")
    data = b"z"
    path = get_file("z.bin", _serve(tmp_path, "z.bin", data), file_hash=_sha256(data))
    assert path == str(home / "datasets" / "z.bin")


def test_default_cache_dir_without_fastnn_home(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTNN_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _download.default_cache_dir() == os.path.join(str(tmp_path), ".fastnn", "datasets")


def test_get_file_absolute_fname_is_used_as_is(tmp_path):
    data = b"abs"
    target = tmp_path / "mine" / "file.bin"
    path = get_file(str(target), _serve(tmp_path, "file.bin", data), file_hash=_sha256(data),
                    cache_dir=tmp_path / "ignored")
    assert path == str(target) and target.read_bytes() == data


@pytest.mark.parametrize("bad", ["abc", "g" * 64, 123])
def test_get_file_rejects_malformed_hashes(tmp_path, bad):
    with pytest.raises((ValueError, TypeError), match="Received: file_hash="):
        get_file("x", "file:///x", file_hash=bad, cache_dir=tmp_path)


# ----------------------------------------------------------------------------- mnist


def test_loaders_pin_keras_published_hashes():
    assert mnist.FILE_HASH == "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
    assert mnist.ORIGIN == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
    assert fashion_mnist.ORIGIN == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
    assert fashion_mnist.FILE_HASHES == {
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    }


def _fake_images(rng, n):
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def _fake_labels(rng, n):
    return rng.integers(0, 10, size=n, dtype=np.uint8)


def _fake_mnist_npz(tmp_path, keys=("x_train", "y_train", "x_test", "y_test")):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": _fake_images(rng, 12), "y_train": _fake_labels(rng, 12),
        "x_test": _fake_images(rng, 5), "y_test": _fake_labels(rng, 5),
    }
    arrays = {k: v for k, v in arrays.items() if k in keys}
    server = tmp_path / "server"
    server.mkdir(exist_ok=True)
    np.savez(server / "mnist.npz", **arrays)
    data = (server / "mnist.npz").read_bytes()
    return (server / "mnist.npz").as_uri(), _sha256(data), arrays


def test_mnist_downloads_once_and_parses(tmp_path, monkeypatch):
    url, digest, arrays = _fake_mnist_npz(tmp_path)
    monkeypatch.setattr(mnist, "ORIGIN", url)
    monkeypatch.setattr(mnist, "FILE_HASH", digest)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (12, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (12,) and y_train.dtype == np.uint8
    assert x_test.shape == (5, 28, 28) and y_test.shape == (5,)
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    cached = tmp_path / "fastnn_home" / "datasets" / "mnist.npz"
    assert cached.is_file()

    _no_fetch(monkeypatch)  # second call: cache only
    (x2, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x2, arrays["x_train"])


def test_mnist_path_and_cache_dir_arguments(tmp_path, monkeypatch):
    url, digest, _ = _fake_mnist_npz(tmp_path)
    monkeypatch.setattr(mnist, "ORIGIN", url)
    monkeypatch.setattr(mnist, "FILE_HASH", digest)
    mnist.load_data(path="my-mnist.npz", cache_dir=tmp_path / "cd")
    assert (tmp_path / "cd" / "my-mnist.npz").is_file()
    with pytest.raises(ValueError, match="Received: path=''"):
        mnist.load_data(path="")


def test_mnist_refuses_a_file_that_is_not_keras_mnist(tmp_path, monkeypatch):
    url, _, _ = _fake_mnist_npz(tmp_path)
    monkeypatch.setattr(mnist, "ORIGIN", url)  # real Keras hash kept: must mismatch
    with pytest.raises(ValueError, match="Checksum mismatch"):
        mnist.load_data()
    assert _leftovers(tmp_path / "fastnn_home" / "datasets") == []


def test_mnist_archive_missing_an_array_is_a_clear_error(tmp_path, monkeypatch):
    url, digest, _ = _fake_mnist_npz(tmp_path, keys=("x_train", "y_train", "x_test"))
    monkeypatch.setattr(mnist, "ORIGIN", url)
    monkeypatch.setattr(mnist, "FILE_HASH", digest)
    with pytest.raises(ValueError, match="lacks y_test"):
        mnist.load_data()


def test_mnist_offline_without_cache_says_what_to_do(tmp_path, monkeypatch):
    seen = []

    def offline(origin, out):
        seen.append(origin)
        raise urllib.error.URLError("Network is unreachable")

    monkeypatch.setattr(_download, "_fetch", offline)
    target = tmp_path / "fastnn_home" / "datasets" / "mnist.npz"
    with pytest.raises(OSError, match="Network is unreachable") as info:
        mnist.load_data()
    assert f"place it at {target}" in str(info.value)
    assert mnist.FILE_HASH in str(info.value)
    assert seen == [mnist.ORIGIN]  # Keras' own origin URL


# ----------------------------------------------------------------------------- fashion_mnist


def _idx_bytes(array, magic):
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.tobytes())


def _fake_fashion(tmp_path, truncate=None):
    rng = np.random.default_rng(1)
    arrays = {
        "train-labels-idx1-ubyte.gz": (_fake_labels(rng, 9), 2049),
        "train-images-idx3-ubyte.gz": (_fake_images(rng, 9), 2051),
        "t10k-labels-idx1-ubyte.gz": (_fake_labels(rng, 4), 2049),
        "t10k-images-idx3-ubyte.gz": (_fake_images(rng, 4), 2051),
    }
    hashes = {}
    url = None
    for name, (array, magic) in arrays.items():
        data = _idx_bytes(array, magic)
        if name == truncate:
            data = gzip.compress(gzip.decompress(data)[:-10])
        url = _serve(tmp_path, name, data)
        hashes[name] = _sha256(data)
    base = url[: url.rindex("/") + 1]
    return base, hashes, {k: v[0] for k, v in arrays.items()}


def test_fashion_mnist_downloads_once_and_parses(tmp_path, monkeypatch):
    base, hashes, arrays = _fake_fashion(tmp_path)
    monkeypatch.setattr(fashion_mnist, "ORIGIN", base)
    monkeypatch.setattr(fashion_mnist, "FILE_HASHES", hashes)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (9, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (9,) and y_train.dtype == np.uint8
    assert x_test.shape == (4, 28, 28) and y_test.shape == (4,)
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    x_train[0, 0, 0] ^= 1  # writable, not a view of a read-only buffer
    cache = tmp_path / "fastnn_home" / "datasets" / "fashion-mnist"
    assert _leftovers(cache) == sorted(hashes)

    _no_fetch(monkeypatch)
    (x2, _), _ = fashion_mnist.load_data()
    np.testing.assert_array_equal(x2, arrays["train-images-idx3-ubyte.gz"])
    assert len(fashion_mnist.CLASS_NAMES) == 10


def test_fashion_mnist_cache_dir_argument(tmp_path, monkeypatch):
    base, hashes, _ = _fake_fashion(tmp_path)
    monkeypatch.setattr(fashion_mnist, "ORIGIN", base)
    monkeypatch.setattr(fashion_mnist, "FILE_HASHES", hashes)
    fashion_mnist.load_data(cache_dir=tmp_path / "cd")
    assert _leftovers(tmp_path / "cd" / "fashion-mnist") == sorted(hashes)


def test_fashion_mnist_checksum_mismatch_refused(tmp_path, monkeypatch):
    base, _, _ = _fake_fashion(tmp_path)
    monkeypatch.setattr(fashion_mnist, "ORIGIN", base)  # Keras' real hashes kept
    with pytest.raises(ValueError, match="Checksum mismatch for train-labels-idx1-ubyte.gz"):
        fashion_mnist.load_data()
    assert _leftovers(tmp_path / "fastnn_home" / "datasets" / "fashion-mnist") == []


def test_fashion_mnist_truncated_archive_is_a_clear_error(tmp_path, monkeypatch):
    base, hashes, _ = _fake_fashion(tmp_path, truncate="t10k-images-idx3-ubyte.gz")
    monkeypatch.setattr(fashion_mnist, "ORIGIN", base)
    monkeypatch.setattr(fashion_mnist, "FILE_HASHES", hashes)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        fashion_mnist.load_data()


def test_fashion_mnist_wrong_magic_is_a_clear_error(tmp_path, monkeypatch):
    base, hashes, _ = _fake_fashion(tmp_path)
    # Serve the images file under the labels name.
    server = tmp_path / "server"
    swapped = (server / "train-images-idx3-ubyte.gz").read_bytes()
    (server / "train-labels-idx1-ubyte.gz").write_bytes(swapped)
    hashes = dict(hashes, **{"train-labels-idx1-ubyte.gz": _sha256(swapped)})
    monkeypatch.setattr(fashion_mnist, "ORIGIN", base)
    monkeypatch.setattr(fashion_mnist, "FILE_HASHES", hashes)
    with pytest.raises(ValueError, match="magic number 2051, expected 2049"):
        fashion_mnist.load_data()


def test_fashion_mnist_images_feed_a_conv2d_after_adding_the_channel_axis(tmp_path,
                                                                         monkeypatch):
    """Seed 003's first CNN step: ``x[..., None]`` makes (n, 28, 28, 1) images (here the
    loader reads small stand-in archives, offline)."""
    from fastnn import layers
    from fastnn.models import Sequential

    base, hashes, _ = _fake_fashion(tmp_path)
    monkeypatch.setattr(fashion_mnist, "ORIGIN", base)
    monkeypatch.setattr(fashion_mnist, "FILE_HASHES", hashes)
    (x_train, y_train), (x_test, _) = fashion_mnist.load_data()
    model = Sequential([
        layers.Conv2D(4, 3, activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        model.fit(x_train / 255.0, y_train, epochs=1, verbose=0)
    model.fit(x_train[..., None] / 255.0, y_train, epochs=1, verbose=0)
    assert model.predict(x_test[..., None] / 255.0, verbose=0).shape == (4, 10)
