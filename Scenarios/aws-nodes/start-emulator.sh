#!/bin/sh
# The EC2 API of aws-nodes.yaml, run as its fixture: moto's server on 127.0.0.1, port
# $EBB_AWS_EMULATOR_PORT (default 39571), with six running instances (ec2_emulator.py says
# which). It needs a Python with moto[server]: $EBB_AWS_PYTHON, else the repository's
# .ci-venv (ci/test.sh makes it), else python3 if it has moto. Ebb stops it after the run.
set -eu
here=$(dirname "$0")
port=${EBB_AWS_EMULATOR_PORT:-39571}
for python in "${EBB_AWS_PYTHON:-}" "$here/../../.ci-venv/bin/python" python3; do
    [ -n "$python" ] || continue
    if "$python" -c "import moto.server, boto3" 2>/dev/null; then
        exec "$python" "$here/ec2_emulator.py" --port "$port"
    fi
done
echo "aws-nodes: no Python with moto found; make one and point EBB_AWS_PYTHON at it:" >&2
echo "  python3 -m venv /tmp/moto && /tmp/moto/bin/pip install 'moto[server]==5.2.5' && export EBB_AWS_PYTHON=/tmp/moto/bin/python" >&2
exit 1
