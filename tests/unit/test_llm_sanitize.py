"""extract_json: fences, chatter, trailing commas, truncation, "{}" + whitespace; one documented error."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models_processor.llm.sanitize import NoJSONFound, extract_json


@pytest.mark.parametrize("text,expected", [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": 1,}\n```', {"a": 1}),
    ('```\n{"a": [1, 2]}\n```\nHope this helps!', {"a": [1, 2]}),
    ('Sure! Here is the JSON: {"title": "Pie", "servings": 8} Enjoy.', {"title": "Pie", "servings": 8}),
    ('{"a": 1, "b": [1, 2,],}', {"a": 1, "b": [1, 2]}),
    ('{"title": "Pie", "ingredients": [{"original_text": "2 eggs"', {"title": "Pie",
                                                                     "ingredients": [{"original_text": "2 eggs"}]}),
    ("{}" + "\n \n \n" * 200, {}),
    ('[{"a": 1}]', [{"a": 1}]),
    ('{"a": 1}{"b": 2}', {"a": 1}),
    ('{"a": 1}\n```', {"a": 1}),
    ('```json\n{"a": {"b": [1', {"a": {"b": [1]}}),
])
def test_extracts(text, expected):
    assert extract_json(text) == expected


@pytest.mark.parametrize("text", ["", "   \n ", "no json here", "42", '"just a string"', "```\n```", None])
def test_nothing_usable_raises_value_error_subclass(text):
    with pytest.raises(NoJSONFound) as info:
        extract_json(text)
    assert isinstance(info.value, ValueError)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet='{}[]",:0123456789abc \n`-.tfnul\\')))
def test_only_the_documented_error_escapes(text):
    try:
        value = extract_json(text)
    except NoJSONFound:
        return
    assert isinstance(value, (dict, list))
