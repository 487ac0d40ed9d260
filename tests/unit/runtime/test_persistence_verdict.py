"""What the startup check makes of a Redis's persistence (pure): mode live refuses a Redis
without an append-only file unless redis.allow_volatile; dry_run and allow_volatile warn; the
fsync policy is explained."""

from __future__ import annotations

import pytest

from daemon.adapters.redis_persistence import Persistence
from daemon.config import Mode
from daemon.runtime.persistence import judge

WHERE = "redis://127.0.0.1:6379/0"


def found(aof: bool, fsync: str | None = "everysec", save: str | None = "") -> Persistence:
    refused = "ERR unknown command 'CONFIG'" if fsync is None else None
    return Persistence(aof_enabled=aof, rdb_changes_since_last_save=3, appendfsync=fsync,
                       save=save, config_refused=refused)


def test_live_refuses_no_aof_naming_what_it_found_and_both_ways_out() -> None:
    v = judge(found(False, save="3600 1"), Mode.LIVE, False, WHERE)
    assert v.refusal == (
        "Redis redis://127.0.0.1:6379/0: AOF off, RDB "
        "snapshots 'save 3600 1' (3 change(s) since the last one). mode: live refuses it: "
        "without an append-only file a crash of Redis or of the machine loses every order, "
        "fill and cost basis written since the last RDB snapshot (all of them when snapshots "
        "are off). Either enable AOF on the Redis server (appendonly yes, appendfsync "
        "everysec; README: Production Redis) or set redis.allow_volatile: true to accept "
        "the risk")
    assert (v.warnings, v.notes) == ((), ())


@pytest.mark.parametrize(("mode", "allow", "why"), [
    (Mode.LIVE, True, "redis.allow_volatile: true, running live anyway"),
    (Mode.DRY_RUN, False, "mode: live would refuse it unless redis.allow_volatile: true"),
    (Mode.DRY_RUN, True, "mode: live would refuse it unless redis.allow_volatile: true"),
])
def test_no_aof_only_warns_when_allowed_or_dry_run(mode: Mode, allow: bool, why: str) -> None:
    v = judge(found(False), mode, allow, WHERE)
    assert v.refusal is None and v.notes == ()
    assert len(v.warnings) == 1
    assert v.warnings[0].startswith(f"Redis {WHERE}: AOF off")
    assert v.warnings[0].endswith(f"({why})")


@pytest.mark.parametrize(("fsync", "level", "meaning"), [
    ("everysec", "note", "a power cut or kernel crash can lose about the last second of writes"),
    ("always", "note", "every write is on disk before Redis answers"),
    ("no", "warning", "the kernel flushes when it likes (about every 30 s on Linux)"),
])
@pytest.mark.parametrize("mode", [Mode.LIVE, Mode.DRY_RUN])
def test_aof_runs_and_its_fsync_policy_is_explained(fsync: str, level: str, meaning: str,
                                                    mode: Mode) -> None:
    v = judge(found(True, fsync), mode, False, WHERE)
    assert v.refusal is None
    lines = v.notes if level == "note" else v.warnings
    assert (len(v.notes), len(v.warnings)) == ((1, 0) if level == "note" else (0, 1))
    assert lines[0].startswith(f"Redis {WHERE}: AOF on (appendfsync {fsync}), RDB snapshots "
                               f"off: ")
    assert meaning in lines[0]


def test_without_config_the_fsync_policy_is_unknown_and_said_so() -> None:
    v = judge(found(True, None, None), Mode.LIVE, False, WHERE)
    assert v.refusal is None and v.warnings == ()
    assert v.notes == (
        f"Redis {WHERE}: AOF on (appendfsync unknown), RDB schedule unknown (3 change(s) since "
        "the last snapshot); CONFIG GET refused (ERR unknown command 'CONFIG'): read from INFO "
        "persistence only; the fsync policy is unknown",)


def test_without_config_no_aof_is_still_refused_in_live() -> None:
    v = judge(found(False, None, None), Mode.LIVE, False, WHERE)
    assert v.refusal is not None and "AOF off" in v.refusal and "read from INFO" in v.refusal
