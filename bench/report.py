"""The run's results as one plain-text table (stdout) and as JSON (a file)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.targets import Target

Row = tuple[str, str, str, str, str]
HEADER: Row = ("scenario", "measure", "value", "target", "result")
OTHER_LOAD_WARNING_CORES = 0.25


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _latency(latency: Mapping[str, float | None], keys: tuple[str, ...]) -> str:
    return " / ".join(_num(latency.get(key)) for key in keys) + " ms"


def _cpu(result: Mapping[str, Any]) -> str:
    resources = result["resources"]
    return (
        f"{resources['client_cpu_cores']:.2f} / {resources['server_cpu_cores']:.2f}"
        f" / {resources['service_cpu_cores']:.2f} / {resources['other_cpu_cores']:.2f}"
    )


def _per_worker(result: Mapping[str, Any]) -> str:
    resources = result["resources"]
    cpu = " + ".join(f"{cores:.2f}" for cores in resources["worker_cpu_cores"])
    connections = " + ".join(str(count) for count in resources["connections_per_worker"])
    return f"{cpu} · {connections}"


def _statuses(result: Mapping[str, Any]) -> str:
    return ", ".join(f"{label}×{count}" for label, count in result["statuses"].items()) or "-"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+,.2f}"


def _limiter_rows(limits: Mapping[str, Any]) -> list[Row]:
    """The limiter scenario's rows: informational, it has no target."""
    storm, cpu, hit = limits["storm"], limits["cpu_ms_per_login"], limits["throttled"]
    burst = hit["burst"]
    pct3 = ("p50", "p95", "p99")
    baseline = "off" if cpu["login_storm_throttles_off"] else "kept"
    retry = hit["retry_after_s"]

    def info(measure: str, value: str) -> Row:
        return ("limiter", measure, value, "", "")

    return [
        info(
            f"storm, throttles on: logins/s ({storm['clients']} clients)", _num(storm["ok_per_s"])
        ),
        info("storm: full login p50 / p95 / p99", _latency(storm["latency_ms"], pct3)),
        info(
            "storm: errors / timeouts / shed",
            f"{storm['errors']} / {storm['timeouts']} / {storm['shed']}",
        ),
        info("storm: statuses", _statuses(storm)),
        info("storm: CPU cores client / server / services / other", _cpu(storm)),
        info("storm: per worker: CPU cores · connections", _per_worker(storm)),
        info(
            f"server CPU ms/login: throttles on / {baseline} (login storm) / limiter",
            f"{_num(cpu['throttles_on'], 2)} / {_num(cpu['login_storm'], 2)}"
            f" / {_signed(cpu['limiter_cost'])} ms",
        ),
        info(
            f"burst ({hit['clients']} clients, {hit['limit_per_minute']}/min per IP): "
            "303 before / after the limit",
            f"{hit['served_before_limit']} / {hit['served_after_limit']}",
        ),
        info(
            "burst: 429 with / without Retry-After",
            f"{hit['count_429']} / {hit['count_429_without_retry_after']}",
        ),
        info(
            "burst: Retry-After min / max",
            f"{_num(retry['min'], 0)} / {_num(retry['max'], 0)} s",
        ),
        info("burst: 429 answer p50 / p99", _latency(hit["latency_429_ms"], ("p50", "p99"))),
        info(
            "burst: server CPU ms per 429 vs per login",
            f"{_num(hit['server_cpu_ms_per_429'], 2)} vs {_num(cpu['throttles_on'], 2)} ms",
        ),
        info(
            "burst: statuses (allowance; timed burst)",
            f"{_statuses(hit['allowance'])}; {_statuses(burst)}",
        ),
        info("burst: CPU cores client / server / services / other", _cpu(burst)),
    ]


def _verdict(target: Target) -> str:
    ratio = target.ratio
    if target.passed is None or ratio is None:
        return target.verdict
    return f"{target.verdict} ({ratio:.2f}×)"


def _target_cells(target: Target) -> tuple[str, str]:
    return target.rule, _verdict(target)


def rows(results: Mapping[str, Any], targets: Mapping[str, Target]) -> list[Row]:
    s = results["scenarios"]
    meta = results["meta"]
    hl, ceil, storm, dash, iso, over, mem = (
        s["hash_limit"],
        s["ceiling"],
        s["login_storm"],
        s["dashboard"],
        s["isolation"],
        s["overload"],
        s["memory"],
    )
    pct3 = ("p50", "p95", "p99")

    def judged(scenario: str, measure: str, value: str, key: str) -> Row:
        return (scenario, measure, value, *_target_cells(targets[key]))

    def plain(scenario: str, measure: str, value: str) -> Row:
        return (scenario, measure, value, "", "")

    timeout = f"> {meta['options']['timeout']:g} s"
    return [
        plain(
            "hash limit",
            f"argon2 verify, median of {hl['runs']} (other CPU {hl['other_cpu_cores']:.2f})",
            f"{hl['verify_ms']:.1f} ms",
        ),
        plain(
            "hash limit",
            f"ideal logins/s ({hl['cores']} cores / verify)",
            _num(hl["ideal_logins_per_s"]),
        ),
        plain("ceiling", f"hello req/s ({ceil['clients']} clients)", _num(ceil["ok_per_s"])),
        plain("ceiling", "latency p50 / p95 / p99", _latency(ceil["latency_ms"], pct3)),
        plain("ceiling", "CPU cores client / server / services / other", _cpu(ceil)),
        plain("ceiling", "per worker: CPU cores · connections", _per_worker(ceil)),
        judged(
            "login storm",
            f"logins/s ({storm['clients']} clients)",
            _num(storm["ok_per_s"]),
            "logins_per_s",
        ),
        plain("login storm", "full login p50 / p95 / p99", _latency(storm["latency_ms"], pct3)),
        plain(
            "login storm",
            "errors / timeouts / shed",
            f"{storm['errors']} / {storm['timeouts']} / {storm['shed']}",
        ),
        plain("login storm", "statuses", _statuses(storm)),
        plain("login storm", "CPU cores client / server / services / other", _cpu(storm)),
        plain("login storm", "per worker: CPU cores · connections", _per_worker(storm)),
        judged(
            "dashboard",
            f"req/s ({dash['clients']} signed-in clients)",
            _num(dash["ok_per_s"]),
            "dashboard_rps",
        ),
        plain("dashboard", "latency p50 / p95 / p99", _latency(dash["latency_ms"], pct3)),
        plain(
            "dashboard",
            "errors (302 = session lost) / timeouts",
            f"{dash['errors']} / {dash['timeouts']}",
        ),
        plain("dashboard", "CPU cores client / server / services / other", _cpu(dash)),
        plain("dashboard", "per worker: CPU cores · connections", _per_worker(dash)),
        plain(
            "isolation",
            f"dashboard p50 / p95 / p99 ({iso['clients']} clients)",
            _latency(iso["latency_ms"], pct3),
        ),
        judged(
            "isolation",
            "p99 in storm vs dashboard p99",
            f"{_num(iso['latency_ms']['p99'])} vs {_num(dash['latency_ms']['p99'])} ms"
            f" ({_num(iso['p99_ratio'], 2)}×)",
            "isolation_p99",
        ),
        plain(
            "isolation",
            f"storm alongside: logins/s ({iso['storm_clients']} clients)",
            _num(iso["storm"]["ok_per_s"]),
        ),
        plain(
            "isolation",
            "errors / timeouts (pages; storm)",
            f"{iso['errors']} / {iso['timeouts']}; "
            f"{iso['storm']['errors']} / {iso['storm']['timeouts']}",
        ),
        plain("isolation", "CPU cores client / server / services / other", _cpu(iso)),
        plain("isolation", "per worker: CPU cores · connections", _per_worker(iso)),
        plain("overload", f"2xx/303 logins ({over['clients']} clients)", str(over["ok"])),
        plain("overload", "shed (503/429 with Retry-After)", str(over["shed"])),
        judged(
            "overload",
            "shed without Retry-After",
            str(over["shed_without_retry_after"]),
            "shed_without_retry_after",
        ),
        judged("overload", f"timeouts ({timeout})", str(over["timeouts"]), "overload_timeouts"),
        judged(
            "overload",
            "other 5xx",
            str(over["server_errors_not_shed"]),
            "overload_other_5xx",
        ),
        judged(
            "overload",
            "shed answer p50 / p99",
            _latency(over["shed_latency_ms"], ("p50", "p99")),
            "shed_p99_ms",
        ),
        plain(
            "overload", "successful login p50 / p99", _latency(over["latency_ms"], ("p50", "p99"))
        ),
        plain("overload", "statuses", _statuses(over)),
        plain("overload", "CPU cores client / server / services / other", _cpu(over)),
        plain("overload", "per worker: CPU cores · connections", _per_worker(over)),
        *_limiter_rows(s["limiter"]),
        plain(
            "memory",
            f"idle RSS, all {len(mem['idle_processes'])} server processes",
            f"{_num(mem['idle_total_mib'])} MiB",
        ),
        plain(
            "memory",
            "idle RSS per worker",
            " / ".join(_num(v) for v in mem["idle_worker_mib"]) + " MiB",
        ),
        plain(
            "memory",
            "peak RSS storm / overload",
            f"{_num(mem['storm_peak_mib'])} / {_num(mem['overload_peak_mib'])} MiB",
        ),
        judged("memory", "peak RSS", f"{_num(mem['peak_mib'])} MiB", "peak_rss_mib"),
    ]


def header_lines(results: Mapping[str, Any]) -> list[str]:
    meta = results["meta"]
    argon2 = meta["argon2"]
    options = meta["options"]
    env = " ".join(f"{k}={v}" for k, v in meta["env_overrides"].items()) or "none"
    throttles = " ".join(meta["throttles_off"]) or "none"
    return [
        f"quart-app load benchmark · {meta['date']} · {meta['cores']} cores "
        f"(os.cpu_count() = {meta['cpu_count']}) · Python {meta['python']}",
        f"app {meta['app_revision']} · hypercorn {meta['workers']} workers · "
        f"database: {meta['database']}",
        f"--env: {env} · throttles set to 0: {throttles}",
        f"argon2id t={argon2['time_cost']} m={argon2['memory_cost_kib']} KiB "
        f"p={argon2['parallelism']} · HASH_POOL_SIZE={meta['hash_pool_size']} per worker · "
        f"HASH_QUEUE_LIMIT={meta['hash_queue_limit']}",
        f"users={options['users']} C={options['concurrency']} D={options['duration']:g}s "
        f"K={options['dashboard_clients']} overload={options['overload_concurrency']}"
        f"{' (--quick)' if options['quick'] else ''} · CPU = cores busy"
        f" · run took {meta['wall_s']:.0f} s",
    ]


def table(results: Mapping[str, Any], targets: list[Target]) -> str:
    """Header lines, then one aligned table of every measure, with PASS/MISS where targeted."""
    body = rows(results, {target.key: target for target in targets})
    widths = [max(len(row[i]) for row in [HEADER, *body]) for i in range(len(HEADER))]

    def line(row: Row) -> str:
        return "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    out = [*header_lines(results), "", line(HEADER), rule]
    previous = ""
    for row in body:
        # The scenario's name on its first row only, so the groups stand out.
        shown: Row = row if row[0] != previous else ("", row[1], row[2], row[3], row[4])
        out.append(line(shown))
        previous = row[0]
    verdicts = [t.verdict for t in targets]
    out += [
        rule,
        f"targets: {verdicts.count('PASS')} PASS, {verdicts.count('MISS')} MISS, "
        f"{verdicts.count('N/A')} N/A",
    ]
    other = busiest_other_load(results)
    if other > OTHER_LOAD_WARNING_CORES:
        out.append(
            f"warning: other programs kept up to {other:.2f} cores busy during a scenario "
            "(CPU 'other'); the numbers are skewed, rerun on a quiet machine"
        )
    return "\n".join(out)


def _watched(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every ``resources`` in a scenario's result, nested ones too (the limiter's storm, burst)."""
    found = [result["resources"]] if "resources" in result else []
    for value in result.values():
        if isinstance(value, Mapping) and value is not result.get("resources"):
            found += _watched(value)
    return found


def busiest_other_load(results: Mapping[str, Any]) -> float:
    """The most CPU that programs other than the bench and its servers used in any scenario."""
    loads = [results["scenarios"]["hash_limit"]["other_cpu_cores"]]
    for result in results["scenarios"].values():
        if isinstance(result, Mapping):
            loads += [resources["other_cpu_cores"] for resources in _watched(result)]
    return float(max(loads))


def write_json(results: Mapping[str, Any], targets: list[Target], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**results, "targets": [target.as_dict() for target in targets]}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
