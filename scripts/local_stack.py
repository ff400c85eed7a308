"""Creates the local stack's bucket and delivery streams on moto's server (idempotent).

The names and prefixes are the ones template.yaml deploys, so code and tests see the same layout
locally as on AWS. Run with AWS_ENDPOINT_URL pointing at moto.
"""

import os
import sys
import time
import urllib.request

import boto3

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
BUCKET = os.environ.get("DRIFTLESS_BUCKET", "driftless-local")
STREAMS = {
    os.environ.get("DRIFTLESS_EVENTS_STREAM", "driftless-events"): "raw/events/",
    os.environ.get("DRIFTLESS_QUARANTINE_STREAM", "driftless-quarantine"): "raw/quarantine/",
}


def wait_for_moto(deadline_s: float = 30.0) -> None:
    start = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(f"{ENDPOINT}/moto-api/", timeout=1).read()
            return
        except OSError:
            if time.monotonic() - start > deadline_s:
                sys.exit(f"moto's server did not answer at {ENDPOINT} within {deadline_s:.0f}s")
            time.sleep(0.2)


def main() -> None:
    wait_for_moto()
    session = boto3.session.Session(region_name=os.environ.get("AWS_REGION", "us-east-1"))
    s3 = session.client("s3", endpoint_url=ENDPOINT)
    firehose = session.client("firehose", endpoint_url=ENDPOINT)
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)
    existing = set(firehose.list_delivery_streams()["DeliveryStreamNames"])
    for name, prefix in STREAMS.items():
        if name in existing:
            continue
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/driftless-local-firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": prefix,
                "ErrorOutputPrefix": f"raw/errors/{prefix.split('/')[1]}/",
                "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
                "CompressionFormat": "UNCOMPRESSED",
            },
        )
    print(f"local stack ready: s3://{BUCKET}, streams {', '.join(STREAMS)} at {ENDPOINT}")


if __name__ == "__main__":
    main()
