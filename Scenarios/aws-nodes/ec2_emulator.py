"""An EC2 API on 127.0.0.1 for Scenarios/aws-nodes.yaml and the cloud.aws.* tests.

moto's server (PyPI: moto[server], Apache-2.0) in threads of this process, seeded with six
running instances. It listens on 127.0.0.1 only and never reaches AWS: moto answers every
call itself, with any keys.

    ec2_emulator.py [--port N] [--port-file PATH] [--instances-file PATH] [--region us-east-1]
                    [--verify-signatures KEYS_FILE]

The instances are made through a first server on a port the kernel picks; only then does
the server on --port (0: another free port) start, so that anything that reaches it sees them.
Then the instances' ids by Name go to --instances-file (JSON) and the port to --port-file:
their appearance is the sign that the API is ready. Serves until SIGTERM or SIGINT.
"""

import argparse
import json
import os
import signal
import sys
import threading

# Name and tags of each instance, all running. vault-1 is protected: no selection takes it.
SEED = [
    ("web-1", {"role": "web"}),
    ("web-2", {"role": "web"}),
    ("web-3", {"role": "web"}),
    ("vault-1", {"role": "web", "ebb:protected": "true"}),
    ("batch-1", {"role": "batch"}),
    ("node-1", {"role": "node", "pool": "chaos"}),
]


def write_atomically(path, text):
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.rename(temporary, path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0, help="0: a free port the kernel picks")
    parser.add_argument("--port-file")
    parser.add_argument("--instances-file")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--verify-signatures", metavar="KEYS_FILE",
                        help="check every request's SigV4 signature and IAM permission: writes the keys of an IAM user "
                             "allowed ec2:* (JSON) here; any other key is refused with AuthFailure")
    arguments = parser.parse_args()

    # The seeding client reads no AWS setting of the caller's (an empty AWS_PROFILE alone
    # makes boto3 fail): fake keys only, which moto accepts, and its own server's endpoint.
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})
    from moto.server import ThreadedMotoServer
    import boto3

    # Both servers answer from the same in-process backends.
    seeding = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    seeding.start()
    ec2 = boto3.client("ec2", region_name=arguments.region, endpoint_url=f"http://127.0.0.1:{seeding.get_host_and_port()[1]}")
    image = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    ids = {}
    for name, tags in SEED:
        answer = ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in tags.items()]}])
        ids[name] = answer["Instances"][0]["InstanceId"]
    if arguments.verify_signatures:
        iam = boto3.client("iam", region_name=arguments.region, endpoint_url=f"http://127.0.0.1:{seeding.get_host_and_port()[1]}")
        iam.create_user(UserName="chaos")
        iam.put_user_policy(UserName="chaos", PolicyName="ec2", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="chaos")["AccessKey"]
        write_atomically(arguments.verify_signatures,
                         json.dumps({"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}))
    seeding.stop()
    if arguments.verify_signatures:
        # From now on moto recomputes each request's signature (botocore's SigV4) from the
        # headers and body it received, and checks the key's IAM policy.
        from moto import settings
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=arguments.port, verbose=False)
    server.start()
    port = server.get_host_and_port()[1]
    if arguments.instances_file:
        write_atomically(arguments.instances_file, json.dumps(ids))
    if arguments.port_file:
        write_atomically(arguments.port_file, str(port))
    print(f"EC2 emulator on http://127.0.0.1:{port} ({arguments.region}): {json.dumps(ids)}", flush=True)

    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
