"""`nasplatform fid DIR_A DIR_B`: JSON output, cached reference side, clear errors."""

import json

from nasplatform.cli import main

pytest_plugins = ["conftest_fid"]


def test_fid_json_and_reference_cache(tmp_path, capsys, pattern_images):
    dir_a = pattern_images(tmp_path / "a", 3, seed=1, size=32)
    dir_b = pattern_images(tmp_path / "b", 3, seed=2, size=32)
    args = ["fid", str(dir_a), str(dir_b), "--json", "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["fid"] > 1.0 and first["n_generated"] == first["n_reference"] == 3
    assert (first["reference_cache_hit"], second["reference_cache_hit"]) == (False, True)
    assert second["fid"] == first["fid"] and second["extractor_id"].startswith("inception-2015-12-05/sha256:")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1


def test_fid_text_output(tmp_path, capsys, pattern_images):
    dir_a = pattern_images(tmp_path / "a", 2, seed=1, size=32)
    assert main(["fid", str(dir_a), str(dir_a), "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("FID ") and "KID" in out and "Inception weights" in out


def test_fid_missing_folder_is_a_cli_error(tmp_path, capsys):
    assert main(["fid", str(tmp_path / "nope"), str(tmp_path), "--json"]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_fid_empty_folder_is_a_cli_error(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code = main(["fid", str(tmp_path / "a"), str(tmp_path / "b"), "--cache-dir", str(tmp_path / "cache")])
    assert code == 2 and "no images" in capsys.readouterr().err


def test_fid_refuses_batch_size_zero(tmp_path, capsys, pattern_images):
    dir_a = pattern_images(tmp_path / "a", 2, seed=1, size=32)
    assert main(["fid", str(dir_a), str(dir_a), "--batch-size", "0", "--cache-dir", str(tmp_path / "cache")]) == 2
    assert "--batch-size must be a positive number of images, got 0" in capsys.readouterr().err


def test_fid_names_the_file_it_cannot_read(tmp_path, capsys, pattern_images):
    dir_a = pattern_images(tmp_path / "a", 3, seed=1, size=32)
    dir_b = pattern_images(tmp_path / "b", 3, seed=2, size=32)
    whole = sorted(dir_a.glob("*.png"))[1]
    whole.write_bytes(whole.read_bytes()[:200])  # a truncated PNG: PIL's own error names no file
    assert main(["fid", str(dir_a), str(dir_b), "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert f"1 image file(s) cannot be read:\n  {whole}: " in err and "Traceback" not in err
