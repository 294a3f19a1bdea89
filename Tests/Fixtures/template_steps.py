"""Prints the shell steps of each CI template as JSON, for TemplateTests to execute in a clean
Debian root: [{"template", "steps": [{"name", "shell", "script", "env"}]}].

GitHub: the template runs Ebb's composite action (action.yml), so its steps are the action's
`run:` steps, with `${{ inputs.* }}` taken from the template's `with:` (else the defaults).
GitLab: before_script, script and after_script with the job's variables. Jenkins: every `sh`
step in order, with the pipeline's `environment` (credentials() left out).
Usage: python3 template_steps.py REPOSITORY
"""
import json
import re
import sys

import yaml

root = sys.argv[1]
templates = []


def load(path):
    with open(f"{root}/{path}") as f:
        return yaml.safe_load(f)


action = load("action.yml")
inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
github = load("ci/templates/github-actions.yml")
uses = [s for s in github["jobs"]["chaos"]["steps"] if "/ebb@" in s.get("uses", "")]
assert len(uses) == 1, "the GitHub template must use Ebb's action once"
inputs.update({k: str(v) for k, v in uses[0].get("with", {}).items()})
steps = []
for step in action["runs"]["steps"]:
    if "run" not in step:
        continue
    env = {k: re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs[m.group(1)], str(v))
           for k, v in step.get("env", {}).items()}
    assert all("${{" not in v for v in env.values()) and "${{" not in step["run"], step["name"]
    assert step.get("shell") == "bash", step["name"]
    steps.append({"name": step["name"], "shell": "bash", "script": step["run"], "env": env})
templates.append({"template": "github-actions.yml (action.yml)", "steps": steps})

gitlab = load("ci/templates/gitlab-ci.yml")["chaos"]
env = {k: str(v) for k, v in gitlab.get("variables", {}).items()}
steps = [{"name": key, "shell": "bash", "script": "\n".join(gitlab[key]), "env": env}
         for key in ("before_script", "script", "after_script") if key in gitlab]
templates.append({"template": "gitlab-ci.yml", "steps": steps})

with open(f"{root}/ci/templates/Jenkinsfile") as f:
    jenkins = f.read()
block = re.search(r"environment \{(.*?)\n    \}", jenkins, re.S).group(1)
env = {m.group(1): m.group(2) for m in re.finditer(r"^\s*(\w+) = '([^']*)'", block, re.M)}
steps = []
for m in re.finditer(r"\bsh\s*(?:'''(.*?)'''|'([^'\n]*)')", jenkins, re.S):
    script = m.group(1) if m.group(1) is not None else m.group(2)
    steps.append({"name": f"sh #{len(steps) + 1}", "shell": "sh", "script": script, "env": env})
templates.append({"template": "Jenkinsfile", "steps": steps})

for t in templates:
    for key in ("EBB_VERSION", "EBB_RELEASES"):
        assert any(key in s["env"] for s in t["steps"]), f"{t['template']}: no {key} variable"
json.dump(templates, sys.stdout)
