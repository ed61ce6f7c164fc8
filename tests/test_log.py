"""shared/log.py: Stash's stderr protocol, line safety, size cap, secret redaction."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shared.log as slog
from shared.log import MAX_LINE_BYTES, create_logger, log_progress, redact, register_secret, set_verbose

SECRET = "AbCdEfGh1234567890xy"


def test_create_logger_returns_five_level_functions(capsys):
    fns = create_logger("unit")
    assert len(fns) == 5
    for fn, message in zip(fns, ("t-msg", "d-msg", "i-msg", "w-msg", "e-msg")):
        fn(message)
    err = capsys.readouterr().err
    assert err == ("\x01t\x02[unit] t-msg\n"
                   "\x01d\x02[unit] d-msg\n"
                   "\x01i\x02i-msg\n"
                   "\x01w\x02w-msg\n"
                   "\x01e\x02e-msg\n")


def test_nothing_goes_to_stdout(capsys):
    for fn in create_logger("unit"):
        fn("hello")
    log_progress(0.5)
    assert capsys.readouterr().out == ""


def test_non_string_messages_are_stringified(capsys):
    log_info = create_logger("unit")[2]
    log_info(ValueError("boom"))
    log_info(42)
    assert capsys.readouterr().err == "\x01i\x02boom\n\x01i\x0242\n"


@pytest.mark.parametrize("text, expected", [
    ("one\ntwo", ["one", "two"]),
    ("one\r\ntwo\rthree", ["one", "two", "three"]),
    ("trailing\n", ["trailing"]),
    ("", [""]),
    ("a\n\nb", ["a", "", "b"]),
])
def test_multi_line_message_becomes_several_protocol_lines(capsys, parse_log, text, expected):
    create_logger("unit")[3](text)
    err = capsys.readouterr().err
    assert parse_log(err) == [("w", line) for line in expected]
    assert "\r" not in err


def test_long_message_is_capped_below_stash_limit(capsys):
    create_logger("unit")[2]("é" * 100_000)  # 2 bytes each: 200 kB
    err = capsys.readouterr().err
    lines = err.split("\n")[:-1]
    assert len(lines) == 1
    data = lines[0].encode("utf-8")
    assert len(data) <= MAX_LINE_BYTES + 3  # message capped; plus \x01 L \x02
    assert len(data) + 1 < 64 * 1024  # the whole line, newline included, survives Stash's cut
    assert lines[0].endswith("[truncated]")
    assert lines[0][3:].rstrip(" …[truncated]").strip("é") == ""  # no half character


def test_line_just_under_the_cap_is_not_truncated(capsys):
    message = "a" * MAX_LINE_BYTES
    create_logger("unit")[2](message)
    assert capsys.readouterr().err == f"\x01i\x02{message}\n"


def test_secret_is_redacted_anywhere(capsys):
    register_secret(SECRET)
    log_trace, log_debug, log_info, log_warn, log_error = create_logger("unit")
    log_info(f"{SECRET}")
    log_warn(f"url=http://plex:32400/library?X-Plex-Token={SECRET}&x=1")
    log_error(f"glued{SECRET}glued {SECRET}")
    log_debug(f"line1\nline2 {SECRET}\n{SECRET}")
    err = capsys.readouterr().err
    assert SECRET not in err
    assert err.count("****") == 6
    assert "\x01w\x02url=http://plex:32400/library?X-Plex-Token=****&x=1\n" in err


def test_secret_straddling_the_size_cap_is_still_redacted(capsys):
    register_secret(SECRET)
    # The cut falls in the middle of where the token is: redaction must come first.
    message = "a" * (MAX_LINE_BYTES - 10) + SECRET + "tail"
    create_logger("unit")[2](message)
    err = capsys.readouterr().err
    assert SECRET[:8] not in err


def test_short_and_empty_secrets_are_ignored():
    register_secret(None)
    register_secret("")
    register_secret("abc")
    assert redact("abc the") == "abc the"
    register_secret("abcd")
    assert redact("abcd") == "****"


def test_overlapping_secrets_longest_first():
    register_secret("tokenABCD")
    register_secret("tokenABCDEFGH")
    assert redact("x tokenABCDEFGH y tokenABCD") == "x **** y ****"


@pytest.mark.parametrize("value, shown", [
    (0.5, "0.5000"), (0, "0.0000"), (1, "1.0000"), (1.7, "1.0000"), (-3, "0.0000"),
    (float("inf"), "1.0000"), (float("-inf"), "0.0000"),
])
def test_progress_is_clamped_to_0_1(capsys, value, shown):
    log_progress(value)
    assert capsys.readouterr().err == f"\x01p\x02{shown}\n"


@given(st.floats(allow_nan=True, allow_infinity=True))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_progress_always_a_number_between_0_and_1(capsys, value):
    capsys.readouterr()
    log_progress(value)
    err = capsys.readouterr().err
    assert err.startswith("\x01p\x02") and err.endswith("\n") and err.count("\n") == 1
    number = float(err[3:-1])
    assert 0.0 <= number <= 1.0 and not math.isnan(number)


def test_verbose_off_suppresses_trace_and_debug_only(capsys, parse_log):
    set_verbose(False)
    for fn in create_logger("unit"):
        fn("msg")
    assert [level for level, _ in parse_log(capsys.readouterr().err)] == ["i", "w", "e"]
    set_verbose(True)
    create_logger("unit")[0]("again")
    assert parse_log(capsys.readouterr().err) == [("t", "[unit] again")]


def test_closed_stderr_never_raises(monkeypatch):
    class Broken:
        def write(self, _):
            raise BrokenPipeError("Stash went away")

        def flush(self):
            raise BrokenPipeError("Stash went away")

    monkeypatch.setattr("sys.stderr", Broken())
    create_logger("unit")[4]("still fine")  # must not raise


# Realistic tokens: letters, digits, '-' and '_'; long enough that they cannot hide
# inside the framing we add ("[unit] ", " …[truncated]").
_tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
                  min_size=12, max_size=40)
_line_breaks = st.sampled_from(["\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"])


@given(
    secrets=st.lists(_tokens, min_size=1, max_size=3),
    pieces=st.lists(st.one_of(st.text(max_size=50), _line_breaks, st.integers(0, 2)), max_size=30),
    level=st.integers(0, 4),
    verbose=st.booleans(),
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
def test_property_no_raw_newline_and_no_secret_in_any_line(capsys, secrets, pieces, level, verbose):
    capsys.readouterr()
    slog._secrets.clear()
    for secret in secrets:
        register_secret(secret)
    set_verbose(verbose)
    # Integers in ``pieces`` stand for "put secret number n here".
    message = "".join(secrets[p % len(secrets)] if isinstance(p, int) else p for p in pieces)
    create_logger("unit")[level](message)
    err = capsys.readouterr().err
    if level < 2 and not verbose:
        assert err == ""
        return
    assert err.endswith("\n")
    for line in err[:-1].split("\n"):
        assert line[0] == "\x01" and line[2] == "\x02" and line[1] in "tdiwe"
        assert "\r" not in line
        assert len(line.encode("utf-8")) < 64 * 1024
        for secret in secrets:
            assert secret not in line


def test_a_progress_reporter_sends_only_visible_moves_and_the_end(capsys):
    from shared.log import progress_reporter

    report = progress_reporter(step=0.01)
    for done in range(1, 1001):
        report(done / 1000)
    report(1.0)        # the end again: already shown
    report(0.5)        # a total that grew moves the bar back: shown
    lines = capsys.readouterr().err.splitlines()
    values = [float(line[3:]) for line in lines]
    assert values[0] == 0.001 and values[-2:] == [1.0, 0.5]
    assert all(0.0099 < b - a < 0.0111 for a, b in zip(values, values[1:-2])), values
    assert 90 <= len(values) <= 102   # a line per visible step (~1 %), the end, the move back
