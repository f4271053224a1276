"""The fine-tune dialog's checks answer any text without raising (no Qt, no display)."""

from __future__ import annotations

from casl_gui.dialogs.finetune_form import holds_scans, output_problem, resume_exists, shown_text


def test_any_output_text_gets_an_answer_not_a_traceback(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    expected = {
        "": "choose where",
        "   ": "choose where",
        "/": "not a folder",
        "..": "not a folder",
        str(folder): "not a folder",
        str(tmp_path / "missing" / "m.safetensors"): "folder does not exist",
        str(folder / "m.pt"): ".safetensors",
        "x" * 5000 + ".safetensors": "cannot be used",
        "a\nb.safetensors": "line break",
        "a\x00b.safetensors": "NUL",
    }
    for text, words in expected.items():
        assert words in output_problem(text), repr(text[:30])
        assert resume_exists(text) is False
    assert output_problem(str(folder / "m.safetensors")) == ""


def test_folders_are_never_searched_deep_and_texts_are_quoted_on_one_line(tmp_path):
    assert not holds_scans(tmp_path)
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.xyz").write_text("0 0 0\n1 0 0\n0 1 0\n")
    assert holds_scans(tmp_path)
    assert not holds_scans(tmp_path.parent)  # the scan is two levels down: not searched
    assert shown_text("a\nb") == "a b" and shown_text("") == "(empty)" and len(shown_text("x" * 500)) == 120
