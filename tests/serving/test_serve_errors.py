"""validation_message: pydantic's error list as one readable sentence per problem (no server needed)."""

from __future__ import annotations

from mlcls_cli.serving.errors import validation_message


def test_union_members_make_one_sentence_about_the_field() -> None:
    errors = [
        {
            "type": "float_type",
            "loc": ("body", "threshold", "float"),
            "msg": "Input should be a valid number",
            "input": "a",
        },
        {
            "type": "int_type",
            "loc": ("body", "threshold", "int"),
            "msg": "Input should be a valid integer",
            "input": "a",
        },
        {
            "type": "list_type",
            "loc": ("body", "threshold", "list[union[float,int]]"),
            "msg": "...",
            "input": "a",
        },
    ]
    message = validation_message(errors)
    assert message.startswith("threshold must be a number, a list of numbers") and message.endswith(
        ', got "a".'
    )
    assert message.count(", got") == 1  # one sentence for the three errors
    assert "float" not in message and "union" not in message


def test_inner_problems_replace_the_field_level_mismatch() -> None:
    errors = [
        {"type": "float_type", "loc": ("body", "threshold", "float"), "msg": "m", "input": [1, "x"]},
        {
            "type": "float_type",
            "loc": ("body", "threshold", "list[union[float,int]]", 1, "float"),
            "msg": "m",
            "input": "x",
        },
        {
            "type": "int_type",
            "loc": ("body", "threshold", "list[union[float,int]]", 1, "int"),
            "msg": "m",
            "input": "x",
        },
    ]
    assert validation_message(errors) == 'threshold[1] must be a number, got "x".'


def test_unknown_fields_fall_back_to_pydantics_words_and_long_values_are_not_echoed() -> None:
    errors = [
        {
            "type": "string_too_long",
            "loc": ("body", "extra", "name"),
            "msg": "String should be short",
            "input": "y" * 1000,
        },
        {"type": "missing", "loc": ("body", "image"), "msg": "Field required", "input": {}},
    ]
    message = validation_message(errors)
    assert (
        message == "extra.name: string should be short, got a string of 1002 characters. image is required."
    )


def test_body_level_problems() -> None:
    invalid = [
        {
            "type": "json_invalid",
            "loc": ("body", 7),
            "msg": "JSON decode error",
            "ctx": {"error": "Expecting value"},
        }
    ]
    assert (
        validation_message(invalid) == "The request body is not valid JSON: expecting value (at position 7)."
    )
    assert validation_message(
        [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
    ) == ('The request body is empty: send a JSON object such as {"image": "<base64>"}.')
