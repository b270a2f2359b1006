"""cfn-lint and checkov on a CloudFormation template, held against a baseline of accepted findings.

    python template_checks.py <template> <baseline.json>

Run with the checks' own venv (scripts/check-template): it calls the cfn-lint and checkov next to
this interpreter. Prints each tool's counts, then every finding the baseline does not accept and
every baseline entry that matched nothing; exits 1 on any finding not accepted.
"""
import json
import os
import re
import subprocess
import sys

BIN = os.path.dirname(sys.executable)
# CDK appends an 8-digit hash to every logical id: a baseline names the resource without it.
HASH = re.compile(r"[0-9A-F]{8}$")


def resource_name(logical_id):
    return HASH.sub("", logical_id)


def cfn_lint(template):
    out = subprocess.run([os.path.join(BIN, "cfn-lint"), "--format", "json", template],
                         capture_output=True, text=True)
    # Exit codes are a bit mask of levels found (2 errors, 4 warnings, 8 informational); 1 is a crash.
    if out.returncode & 1 or not out.stdout.strip():
        sys.exit(f"cfn-lint did not run: {out.stderr.strip()}")
    findings = []
    for f in json.loads(out.stdout):
        path = f["Location"]["Path"]
        resource = path[1] if len(path) > 1 and path[0] == "Resources" else "/".join(map(str, path))
        findings.append(("cfn-lint", f["Rule"]["Id"], resource_name(resource), f"{f['Level']}: {f['Message']}"))
    return findings, {}


def checkov(template):
    # Offline: no download of Bridgecrew's mappings or of extra checks.
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE")
    out = subprocess.run([os.path.join(BIN, "checkov"), "-f", template, "--framework", "cloudformation",
                          "-o", "json", "--compact", "--quiet", "--skip-download"],
                         capture_output=True, text=True, env=env)
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        sys.exit(f"checkov did not run: {out.stderr.strip()[-2000:]}")
    report = report[0] if isinstance(report, list) else report
    findings = [("checkov", f["check_id"], resource_name(f["resource"].split(".", 1)[1]), f["check_name"])
                for f in report["results"]["failed_checks"]]
    return findings, report["summary"]


def accepted_by(entry, finding):
    tool, rule, resource, _ = finding
    return entry["tool"] == tool and entry["rule"] == rule and (
        entry["resources"] == ["*"] or resource in entry["resources"])


def main(template, baseline_path):
    with open(baseline_path) as f:
        baseline = json.load(f)["accepted"]
    for entry in baseline:
        if not entry.get("reason", "").strip():
            sys.exit(f"baseline entry {entry['tool']} {entry['rule']} has no reason")
    lint, _ = cfn_lint(template)
    cov, summary = checkov(template)
    errors = sum(1 for f in lint if f[3].startswith("Error"))
    print(f"cfn-lint: {errors} errors, {len(lint) - errors} warnings or informational")
    print(f"checkov: {summary.get('passed')} passed, {summary.get('failed')} failed")
    new = [f for f in lint + cov if not any(accepted_by(e, f) for e in baseline)]
    used = [e for e in baseline if any(accepted_by(e, f) for f in lint + cov)]
    for entry in baseline:
        if entry not in used:
            print(f"stale baseline entry (matches nothing now; remove it): {entry['tool']} {entry['rule']}")
    for tool, rule, resource, message in new:
        print(f"NEW {tool} {rule} on {resource}: {message}")
    print(f"{len(lint) + len(cov) - len(new)} findings accepted by {baseline_path}, {len(new)} not")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
