# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Module 12 — Security, compliance and cost optimization on AWS
#
# **Where this sits:** Modules 7–11 built the fraud-scoring system on AWS: IAM, instances and
# buckets, a network, a load balancer and the infrastructure as code. This lab hardens it and then
# makes it cheaper. The model artifact gets encrypted with keys you control, the public API gets
# TLS with a managed certificate and a web application firewall, threat findings get routed to
# someone who acts on them, and the fleet, the training job and the data get priced and right-sized
# from measurements instead of guesses.
#
# **You will:**
# 1. **encrypt data at rest and in transit (KMS, ACM)**: envelope-encrypt the model artifact with a
#    KMS data key, store it in an SSE-KMS bucket, keep the database password in Secrets Manager;
#    then serve TLS with a certificate, import it into ACM, and put it on the load balancer's HTTPS
#    listener;
# 2. **protect the API with WAF and Shield**: a web ACL with an IP block list, an admin-path rule,
#    AWS managed rule groups and a per-client rate limit, replayed against real traffic patterns;
# 3. **detect threats with GuardDuty**: a detector, a suppression filter for known noise, and an
#    EventBridge rule that routes high-severity findings to the on-call queue;
# 4. **optimise cost for EC2, S3 and RDS**: right-size a fleet from its CloudWatch metrics, choose
#    Spot or on-demand for training knowing the interruption rate, pick S3 storage classes per
#    access pattern and price the RDS options.
#
# **What runs where.** The AWS APIs are the moto emulator: every call is a real boto3 call (with
# the endpoint unset, the same code talks to AWS). moto really encrypts with KMS and enforces the
# encryption context, keeps secret versions and their stages, stores certificates, listeners, web
# ACLs, detectors and metrics, and matches EventBridge patterns. It does *not* inspect traffic with
# WAF, produce GuardDuty findings, publish EC2 metrics or bill anyone. So the lab does that work in
# the open: the TLS handshake runs on this machine with Python's `ssl`, web ACLs are replayed
# through a tested evaluator (`labkit.waf`), findings are injected in GuardDuty's own event format,
# metric history is published to CloudWatch, and costs come from dated list prices and a tested
# model (`labkit.costopt`, built on `labkit.pricing` from Module 8).

# %% tags=["parameters"]
import os

RUN_ID = os.environ.get("RUN_ID", "local")
FAST = os.environ.get("FAST", "1") == "1"
DATA_DIR = os.environ.get("DATA_DIR", "")
# Empty means real AWS (credentials from your profile); the harness sets the local emulator's URL.
AWS_ENDPOINT_URL = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")

# %% [markdown]
# ## Setup
# Everything the lab creates is named from `RUN_ID`. `cleanup()` deletes all of it; it runs here
# first, so a rerun starts clean, and again at the end.

# %% locked=true
import base64
import datetime as dt
import hashlib
import http.server
import json
import pickle
import shutil
import socket
import ssl
import threading
import time
from pathlib import Path

os.environ.setdefault("JOBLIB_MULTIPROCESSING", "0")
import boto3
import numpy as np
import pandas as pd
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from labkit import costopt, labenv, pricing
from labkit.fraud import feature_frame, time_split
from labkit.s3 import empty_and_delete_bucket
from labkit.waf import Request, WebAclEvaluator, ip_sets_for
from mlops_datasets import load

labenv.configure(DATA_DIR)
NAME = labenv.resource_name("m012", RUN_ID)
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
EMULATED = bool(AWS_ENDPOINT_URL)
_aws = {
    "endpoint_url": AWS_ENDPOINT_URL or None,
    "region_name": REGION,
    "config": Config(retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30),
}
kms, s3, secrets, ssm, acm, ec2, elbv2, wafv2, shield, guardduty, events, sqs, cloudwatch, rds = (
    boto3.client(service, **_aws)
    for service in (
        "kms",
        "s3",
        "secretsmanager",
        "ssm",
        "acm",
        "ec2",
        "elbv2",
        "wafv2",
        "shield",
        "guardduty",
        "events",
        "sqs",
        "cloudwatch",
        "rds",
    )
)


def aws_name(suffix: str, limit: int = 32) -> str:
    """`NAME-suffix`, shortened with a hash when longer than ELB's 32-character limit."""
    full = f"{NAME}-{suffix}"
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(NAME.encode()).hexdigest()[:6]
    return f"{NAME[: limit - len(suffix) - 8].rstrip('-')}-{digest}-{suffix}"


TAGS = [{"Key": "lab_run", "Value": NAME}]
KMS_ALIAS = f"alias/{NAME}"
BUCKET = f"{NAME}-models"
SECRET_NAME = f"{NAME}/fraud-db"
PARAM_NAME = f"/{NAME}/scoring/api-token"
DOMAIN = f"{NAME}.example.com"  # example.com is reserved for documentation: nobody can own it
API_HOST = f"api.{DOMAIN}"
ALB_NAME, TG_NAME = aws_name("api"), aws_name("tg")
WEB_ACL, BAD_ACTORS_SET, OFFICE_SET = f"{NAME}-api", f"{NAME}-bad-actors", f"{NAME}-office"
SECURITY_BUS, ALERT_QUEUE, FINDINGS_RULE = f"{NAME}-security", f"{NAME}-security-alerts", f"{NAME}-high-severity"
ARCHIVE_FILTER = f"{NAME}-port-probe-noise"
DEV_DB = f"{NAME}-dev-meta"
WORK = (Path("m012-work") / NAME).resolve()


def _quiet(call, *codes: str) -> None:
    """Run a delete call; a missing resource (one of `codes`) is fine."""
    try:
        call()
    except ClientError as err:
        if err.response["Error"]["Code"] not in codes:
            raise


def _web_acl_summary(name: str) -> dict | None:
    return next((a for a in wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"] if a["Name"] == name), None)


def _ip_set_summary(name: str) -> dict | None:
    return next((s for s in wafv2.list_ip_sets(Scope="REGIONAL")["IPSets"] if s["Name"] == name), None)


def lab_detector() -> str | None:
    """The GuardDuty detector tagged for this run (None if there is none yet)."""
    for detector_id in guardduty.list_detectors()["DetectorIds"]:
        if guardduty.get_detector(DetectorId=detector_id).get("Tags", {}).get("lab_run") == NAME:
            return detector_id
    return None


LAUNCHED: list[str] = []  # instances this kernel launched


def cleanup() -> None:
    """Delete what this lab creates, in dependency order (the KMS key is kept; wrap-up schedules its deletion)."""
    # WAF and Shield
    albs = [lb for lb in elbv2.describe_load_balancers()["LoadBalancers"] if lb["LoadBalancerName"] == ALB_NAME]
    for lb in albs:
        try:
            wafv2.disassociate_web_acl(ResourceArn=lb["LoadBalancerArn"])
        except wafv2.exceptions.WAFNonexistentItemException:
            pass
        for protection in shield.list_protections().get("Protections", []):
            if protection["ResourceArn"] == lb["LoadBalancerArn"]:
                shield.delete_protection(ProtectionId=protection["Id"])
    if (acl := _web_acl_summary(WEB_ACL)) is not None:
        token = wafv2.get_web_acl(Name=WEB_ACL, Scope="REGIONAL", Id=acl["Id"])["LockToken"]
        wafv2.delete_web_acl(Name=WEB_ACL, Scope="REGIONAL", Id=acl["Id"], LockToken=token)
    for name in (BAD_ACTORS_SET, OFFICE_SET):
        if (ip_set := _ip_set_summary(name)) is not None:
            token = wafv2.get_ip_set(Name=name, Scope="REGIONAL", Id=ip_set["Id"])["LockToken"]
            wafv2.delete_ip_set(Name=name, Scope="REGIONAL", Id=ip_set["Id"], LockToken=token)
    # load balancer, network, certificates
    for lb in albs:
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
        elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    for tg in elbv2.describe_target_groups()["TargetGroups"]:
        if tg["TargetGroupName"] == TG_NAME:
            elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
    key_types = ["RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1"]  # default lists RSA only
    for cert in acm.list_certificates(Includes={"keyTypes": key_types})["CertificateSummaryList"]:
        if cert["DomainName"] == DOMAIN or cert["DomainName"].endswith("." + DOMAIN):
            acm.delete_certificate(CertificateArn=cert["CertificateArn"])
    tagged = [{"Name": "tag:lab_run", "Values": [NAME]}]
    vpcs = ec2.describe_vpcs(Filters=tagged)["Vpcs"]
    doomed = set(LAUNCHED)
    if vpcs and not LAUNCHED:  # an earlier run of this NAME did not finish: find its instances (a slow scan)
        doomed |= {
            i["InstanceId"]
            for r in ec2.describe_instances(Filters=tagged)["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        }
    if doomed:
        ec2.terminate_instances(InstanceIds=sorted(doomed))
    LAUNCHED.clear()
    for vpc in vpcs:
        vpc_filter = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
        for group in ec2.describe_security_groups(Filters=vpc_filter)["SecurityGroups"]:
            if group["GroupName"] != "default":
                ec2.delete_security_group(GroupId=group["GroupId"])
        for subnet in ec2.describe_subnets(Filters=vpc_filter)["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    # GuardDuty, EventBridge, SQS
    if (detector := lab_detector()) is not None:
        guardduty.delete_detector(DetectorId=detector)
    if any(b["Name"] == SECURITY_BUS for b in events.list_event_buses(NamePrefix=NAME)["EventBuses"]):
        for rule in events.list_rules(EventBusName=SECURITY_BUS)["Rules"]:
            ids = [
                t["Id"] for t in events.list_targets_by_rule(Rule=rule["Name"], EventBusName=SECURITY_BUS)["Targets"]
            ]
            if ids:
                events.remove_targets(Rule=rule["Name"], EventBusName=SECURITY_BUS, Ids=ids)
            events.delete_rule(Name=rule["Name"], EventBusName=SECURITY_BUS)
        events.delete_event_bus(Name=SECURITY_BUS)
    for url in sqs.list_queues(QueueNamePrefix=ALERT_QUEUE).get("QueueUrls", []):
        sqs.delete_queue(QueueUrl=url)
    # secrets, parameters, bucket, database
    _quiet(
        lambda: secrets.delete_secret(SecretId=SECRET_NAME, ForceDeleteWithoutRecovery=True),
        "ResourceNotFoundException",
    )
    _quiet(lambda: ssm.delete_parameter(Name=PARAM_NAME), "ParameterNotFound")
    empty_and_delete_bucket(s3, BUCKET)
    try:
        rds.delete_db_instance(DBInstanceIdentifier=DEV_DB, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
    except rds.exceptions.DBInstanceNotFoundFault:
        pass


cleanup()
WORK.mkdir(parents=True, exist_ok=True)


def kms_key_arn(alias: str) -> str:
    """The lab's customer-managed KMS key, created on first use and found by its alias afterwards."""
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    except kms.exceptions.NotFoundException:
        key = kms.create_key(
            Description=f"m012 model and secrets key for {NAME}", Tags=[{"TagKey": "lab_run", "TagValue": NAME}]
        )
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])
        return key["KeyMetadata"]["Arn"]


KMS_KEY_ARN = kms_key_arn(KMS_ALIAS)
kms.enable_key_rotation(KeyId=KMS_KEY_ARN)  # a new key version every year; old data still decrypts
print("run:", NAME, "| KMS key:", KMS_KEY_ARN.rsplit("/", 1)[-1], "| emulated AWS:", EMULATED)

# %% [markdown]
# ## Part 1 — Encryption at rest with KMS
#
# A **customer-managed KMS key** never leaves KMS: you ask KMS to use it, KMS checks the key policy
# and IAM, logs the call in CloudTrail, and answers. Disabling the key (or revoking someone's
# access to it) makes everything encrypted under it unreadable to them at once — that is the
# control auditors ask for. The key above has **automatic rotation** on: KMS makes new key material
# every year and keeps the old versions to decrypt old data.
#
# KMS itself only encrypts up to **4 KB**. A model artifact is bigger, so you use **envelope
# encryption**: ask KMS for a fresh *data key* (`GenerateDataKey` returns it twice: in plaintext and
# encrypted under the KMS key), encrypt the artifact locally with the plaintext data key (AES-256-GCM),
# store the *encrypted* data key beside the ciphertext, and forget the plaintext key. To read,
# send the encrypted data key to KMS (`Decrypt`), and decrypt locally. S3's SSE-KMS does exactly this
# inside S3; doing it yourself means the object stays encrypted even for someone who can read the
# bucket but may not use the key — and it works for any store, not only S3.
#
# The **encryption context** is a set of key-value pairs bound to the ciphertext: KMS refuses to
# decrypt unless the same context is given again, and writes it to CloudTrail. Binding the data key
# to the S3 key it protects means a ciphertext copied elsewhere cannot be decrypted.

# %% locked=true
tx = load("fraud")["transactions"]
_train, _valid = time_split(tx)
_X, _y = feature_frame(_train), _train["isFraud"].to_numpy()
MODEL = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(_X, _y)
# the artifact bundles the model with the reference sample its drift monitor compares against (Module 6)
MODEL_BYTES = pickle.dumps({"model": MODEL, "features": list(_X.columns), "reference": _X.sample(2000, random_state=0)})
MODEL_KEY = "models/fraud/3/model.pkl.enc"
print(f"model artifact: {len(MODEL_BYTES):,} bytes")

try:
    kms.encrypt(KeyId=KMS_ALIAS, Plaintext=MODEL_BYTES)
    print("kms.encrypt accepted the whole artifact")
except ClientError as err:
    print(
        "kms.encrypt of the whole artifact:", err.response["Error"]["Code"], "-", err.response["Error"]["Message"][-60:]
    )

_demo = kms.generate_data_key(KeyId=KMS_ALIAS, KeySpec="AES_256", EncryptionContext={"demo": "yes"})
print("data key:", len(_demo["Plaintext"]), "bytes in plaintext,", len(_demo["CiphertextBlob"]), "bytes encrypted")
try:
    kms.decrypt(CiphertextBlob=_demo["CiphertextBlob"])  # no encryption context: refused
except ClientError as err:
    print("decrypt without the context:", err.response["Error"]["Code"])


def encryption_context(key: str) -> dict[str, str]:
    """The context every data key of this lab is bound to: the application and the object key."""
    return {"app": "fraud-scoring", "s3_key": key}


# %% [markdown]
# ## Exercise 1: envelope-encrypt the model artifact
#
# **(a)** Create `BUCKET` with **default encryption** SSE-KMS under the lab's key
# (`SSEAlgorithm="aws:kms"`, `KMSMasterKeyID=KMS_KEY_ARN`, `BucketKeyEnabled=True`) and all four
# Block Public Access settings on. (Defence in depth: the bucket encrypts everything it stores,
# and your artifact is encrypted before it gets there.)
#
# **(b)** Write `store_artifact(key, data)` that
# 1. asks KMS for a data key: `generate_data_key(KeyId=KMS_ALIAS, KeySpec="AES_256",
#    EncryptionContext=encryption_context(key))`;
# 2. encrypts `data` with `AESGCM(plaintext_data_key)` and a **fresh random 12-byte nonce**
#    (`os.urandom(12)`; no associated data);
# 3. puts the object `key` in `BUCKET` with body `nonce + ciphertext` and user metadata
#    `{"data-key": base64 of the CiphertextBlob, "cipher": "AES-256-GCM"}` (do not pass encryption
#    arguments to `put_object`: the bucket default applies).
#
# and `load_artifact(key)` that reads the object back, decrypts the data key with KMS (same context)
# and returns the plaintext bytes. Then store `MODEL_BYTES` under `MODEL_KEY`.
#
# The plaintext data key must never be stored anywhere.
#
# <details><summary>Hint 1</summary><code>s3.put_bucket_encryption(Bucket=BUCKET,
# ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm":
# "aws:kms", "KMSMasterKeyID": KMS_KEY_ARN}, "BucketKeyEnabled": True}]})</code>; user metadata comes back
# from <code>get_object</code> as <code>response["Metadata"]</code>.</details>
# <details><summary>Hint 2</summary><code>nonce = os.urandom(12); body = nonce + AESGCM(dk["Plaintext"]).encrypt(nonce,
# data, None)</code>; to read: <code>AESGCM(key).decrypt(body[:12], body[12:], None)</code>. A nonce must
# never repeat under the same key: a fresh data key per object makes that easy.</details>

# %% answer="envelope"
### BEGIN SOLUTION
try:
    s3.create_bucket(Bucket=BUCKET)
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
s3.put_bucket_encryption(
    Bucket=BUCKET,
    ServerSideEncryptionConfiguration={
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KMS_KEY_ARN},
                "BucketKeyEnabled": True,
            }
        ]
    },
)
s3.put_public_access_block(
    Bucket=BUCKET,
    PublicAccessBlockConfiguration={
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    },
)


def store_artifact(key: str, data: bytes) -> None:
    data_key = kms.generate_data_key(KeyId=KMS_ALIAS, KeySpec="AES_256", EncryptionContext=encryption_context(key))
    nonce = os.urandom(12)
    body = nonce + AESGCM(data_key["Plaintext"]).encrypt(nonce, data, None)
    s3.put_object(
        Bucket=BUCKET,
        Key=key,
        Body=body,
        Metadata={"data-key": base64.b64encode(data_key["CiphertextBlob"]).decode(), "cipher": "AES-256-GCM"},
    )


def load_artifact(key: str) -> bytes:
    obj = s3.get_object(Bucket=BUCKET, Key=key)
    body = obj["Body"].read()
    encrypted_key = base64.b64decode(obj["Metadata"]["data-key"])
    data_key = kms.decrypt(CiphertextBlob=encrypted_key, EncryptionContext=encryption_context(key))["Plaintext"]
    return AESGCM(data_key).decrypt(body[:12], body[12:], None)


store_artifact(MODEL_KEY, MODEL_BYTES)
### END SOLUTION

# %% check="envelope" points=1
try:
    _obj = s3.get_object(Bucket=BUCKET, Key=MODEL_KEY)
except ClientError as _err:
    raise AssertionError(f"s3://{BUCKET}/{MODEL_KEY}: {_err.response['Error']['Code']}") from None
_body, _meta = _obj["Body"].read(), _obj["Metadata"]
assert _obj.get("ServerSideEncryption") == "aws:kms", (
    f"expected the bucket default SSE-KMS on the object, saw {_obj.get('ServerSideEncryption')!r}"
)
assert MODEL_BYTES not in _body and _body[:64] != MODEL_BYTES[:64], "the stored body contains the plaintext model"
assert len(_body) == len(MODEL_BYTES) + 12 + 16, (
    f"expected nonce (12) + ciphertext + GCM tag (16) = {len(MODEL_BYTES) + 28} bytes, saw {len(_body)}"
)
_loaded = load_artifact(MODEL_KEY)
assert _loaded == MODEL_BYTES, "load_artifact did not return the original bytes"
assert pickle.loads(_loaded)["model"].predict(_X.head(5)).shape == (5,), "the decrypted model does not predict"
### BEGIN HIDDEN TESTS
assert _obj.get("SSEKMSKeyId") == KMS_KEY_ARN, f"expected SSE-KMS with {KMS_KEY_ARN}, saw {_obj.get('SSEKMSKeyId')!r}"
_enc = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
assert _enc.get("BucketKeyEnabled") is True, f"expected BucketKeyEnabled, saw {_enc}"
_pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
assert all(
    _pab.get(k) for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
), f"expected all four Block Public Access settings on, saw {_pab}"
assert _meta.get("cipher") == "AES-256-GCM", f"expected metadata cipher=AES-256-GCM, saw {_meta}"
_edk = base64.b64decode(_meta["data-key"])
try:
    kms.decrypt(CiphertextBlob=_edk)
    raise AssertionError("the data key decrypts without an encryption context: bind it to encryption_context(key)")
except ClientError:
    pass
try:
    _dk = kms.decrypt(CiphertextBlob=_edk, EncryptionContext=encryption_context(MODEL_KEY))["Plaintext"]
except ClientError:
    _dk = None
assert _dk is not None, "KMS refuses to decrypt the data key with encryption_context(key): bind the key to that context"
assert len(_dk) == 32, f"expected a 256-bit data key, saw {len(_dk) * 8} bits"
assert AESGCM(_dk).decrypt(_body[:12], _body[12:], None) == MODEL_BYTES, (
    "body is not nonce + AES-GCM(data key) ciphertext"
)
_stored = _body + json.dumps(_meta).encode()
assert _dk not in _stored and base64.b64encode(_dk) not in _stored, "the plaintext data key is stored with the object"
# fresh key and nonce per object: the same bytes stored twice give different bodies
store_artifact(MODEL_KEY + ".again", MODEL_BYTES)
_again = s3.get_object(Bucket=BUCKET, Key=MODEL_KEY + ".again")
assert _again["Body"].read()[:12] != _body[:12], "the nonce repeats: use os.urandom(12) for every object"
assert _again["Metadata"]["data-key"] != _meta["data-key"], "the data key repeats: ask KMS for one per object"
# a copy under another key cannot be decrypted: the context names the original key
s3.copy_object(Bucket=BUCKET, Key=MODEL_KEY + ".copy", CopySource={"Bucket": BUCKET, "Key": MODEL_KEY})
try:
    load_artifact(MODEL_KEY + ".copy")
    _copied = True
except Exception:
    _copied = False
assert not _copied, "a copy under another key decrypted: the encryption context must name the object key"
for _k in (".again", ".copy"):
    s3.delete_object(Bucket=BUCKET, Key=MODEL_KEY + _k)
### END HIDDEN TESTS

# %% check="envelope" points=1
# the round trip on other data: a second artifact, larger than KMS's 4 KB, and an empty one
_blob = os.urandom(50_000)
store_artifact("models/fraud/3/features.bin.enc", _blob)
assert load_artifact("models/fraud/3/features.bin.enc") == _blob, "round trip of a 50 KB blob failed"
### BEGIN HIDDEN TESTS
store_artifact("models/fraud/3/empty.enc", b"")
assert load_artifact("models/fraud/3/empty.enc") == b"", "round trip of an empty artifact failed"
_h = s3.head_object(Bucket=BUCKET, Key="models/fraud/3/features.bin.enc")
assert _h["ContentLength"] == 50_000 + 28, f"expected 50,028 bytes stored, saw {_h['ContentLength']}"
assert _h.get("SSEKMSKeyId") == KMS_KEY_ARN, (
    "the bucket default (SSE-KMS with the lab key) should apply to every object"
)
for _k in ("models/fraud/3/features.bin.enc", "models/fraud/3/empty.enc"):
    s3.delete_object(Bucket=BUCKET, Key=_k)
### END HIDDEN TESTS

# %% [markdown]
# ### Secrets: Secrets Manager and SSM Parameter Store
#
# The scoring API needs the metadata database's password and a token for a partner API. Neither
# belongs in code, an image, or an environment file in git. **Secrets Manager** stores the secret
# encrypted under a KMS key (here the lab's key), keeps **versions** with **staging labels**
# (`AWSCURRENT`, `AWSPREVIOUS`, `AWSPENDING` during a rotation), and rotates it on a schedule with a
# Lambda function that changes the password in the database and in the secret together. **SSM
# Parameter Store** `SecureString` parameters are the cheaper option for configuration secrets that
# do not rotate (no charge for standard parameters; Secrets Manager costs $0.40 per secret-month).
#
# Below, a rotation by hand: a new password becomes `AWSCURRENT`, the old one moves to `AWSPREVIOUS`
# (so connections opened with it keep working while the database catches up), and the application
# reads the secret at *run time*, with a short cache, so a rotation needs no redeploy.


# %% locked=true
def new_password() -> str:
    return secrets.get_random_password(PasswordLength=32, ExcludePunctuation=True)["RandomPassword"]


_db_secret = {"username": "fraud_app", "host": "fraud-meta.internal", "port": 5432, "dbname": "mlmeta"}
secrets.create_secret(
    Name=SECRET_NAME, KmsKeyId=KMS_ALIAS, Tags=TAGS, SecretString=json.dumps({**_db_secret, "password": new_password()})
)
secrets.put_secret_value(SecretId=SECRET_NAME, SecretString=json.dumps({**_db_secret, "password": new_password()}))
_stages = secrets.describe_secret(SecretId=SECRET_NAME)["VersionIdsToStages"]
print("versions and stages:", {v[:8]: s for v, s in _stages.items()})


class SecretCache:
    """Read a secret at run time, at most once per `ttl` seconds (what the AWS caching clients do)."""

    def __init__(self, secret_id: str, ttl: float = 300.0) -> None:
        self.secret_id, self.ttl, self._value, self._at = secret_id, ttl, None, -1e9

    def get(self) -> dict:
        if time.monotonic() - self._at > self.ttl:
            self._value = json.loads(secrets.get_secret_value(SecretId=self.secret_id)["SecretString"])
            self._at = time.monotonic()
        return self._value


db_credentials = SecretCache(SECRET_NAME)
_current = db_credentials.get()
_previous = json.loads(secrets.get_secret_value(SecretId=SECRET_NAME, VersionStage="AWSPREVIOUS")["SecretString"])
print("app reads user", _current["username"], "| password rotated:", _current["password"] != _previous["password"])

ssm.put_parameter(Name=PARAM_NAME, Type="SecureString", KeyId=KMS_ALIAS, Value=new_password(), Overwrite=True)
_raw = ssm.get_parameter(Name=PARAM_NAME)["Parameter"]["Value"]
_plain = ssm.get_parameter(Name=PARAM_NAME, WithDecryption=True)["Parameter"]["Value"]
print("SecureString without decryption:", _raw[:22] + "...", "| with decryption:", len(_plain), "characters")

# %% [markdown]
# (moto shows an undecrypted `SecureString` as `kms:<key>:<value>`; AWS returns base64 ciphertext.
# On AWS, `kms:Decrypt` on the key is a separate permission: a role can be allowed to read the
# parameter and still not see its value.)
#
# ## Part 2 — Encryption in transit: TLS and ACM
#
# TLS gives three things: the traffic is encrypted, it cannot be altered unnoticed, and the client
# knows it talks to the right server — because the server proves it holds the private key of a
# **certificate** for the name the client asked for, signed by an authority the client trusts.
#
# **AWS Certificate Manager (ACM)** issues public certificates (free, renewed automatically, once
# you prove you control the domain with a DNS record) and stores imported ones; load balancers,
# CloudFront and API Gateway use them without the private key ever touching your servers.
#
# First, the real thing on this machine: a certificate for the API's host name (what an internal
# CA, or ACM Private CA, would issue), a TLS server, and clients that do and do not trust it.

# %% locked=true
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SCORE_HOST = f"score.{DOMAIN}"
_tls_key = ec.generate_private_key(ec.SECP256R1())
_subject = x509.Name(
    [x509.NameAttribute(NameOID.COMMON_NAME, API_HOST), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fraud ML")]
)
_now = dt.datetime.now(dt.UTC)
CERT = (
    x509.CertificateBuilder()
    .subject_name(_subject)
    .issuer_name(_subject)  # self-signed: the issuer is the subject
    .public_key(_tls_key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(_now - dt.timedelta(minutes=5))
    .not_valid_after(_now + dt.timedelta(days=90))
    .add_extension(x509.SubjectAlternativeName([x509.DNSName(API_HOST), x509.DNSName(SCORE_HOST)]), critical=False)
    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(_tls_key.public_key()), critical=False)
    .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(_tls_key.public_key()), critical=False)
    .sign(_tls_key, hashes.SHA256())
)
CERT_PEM = CERT.public_bytes(serialization.Encoding.PEM)
KEY_PEM = _tls_key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
(WORK / "cert.pem").write_bytes(CERT_PEM)
(WORK / "key.pem").write_bytes(KEY_PEM)
(WORK / "key.pem").chmod(0o600)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the notebook quiet
        pass


_server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
_server_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
_server_ctx.load_cert_chain(WORK / "cert.pem", WORK / "key.pem")
_httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
_httpd.socket = _server_ctx.wrap_socket(_httpd.socket, server_side=True)
_httpd.handle_error = lambda *a: None
threading.Thread(target=_httpd.serve_forever, daemon=True).start()
TLS_PORT = _httpd.server_address[1]


def https_get(server_name: str, context: ssl.SSLContext) -> tuple[str, str, bytes]:
    """GET / from the local TLS server, asking for `server_name` (SNI + hostname check)."""
    with socket.create_connection(("127.0.0.1", TLS_PORT), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            version, cipher = tls.version(), tls.cipher()[0]
            tls.sendall(f"GET /health HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(4096):
                data += chunk
            return version, cipher, data.split(b"\r\n\r\n", 1)[-1]


_trusting = ssl.create_default_context(cafile=str(WORK / "cert.pem"))  # trusts our CA (this certificate)
print("trusted, right name:", https_get(SCORE_HOST, _trusting))
for _label, _name, _ctx in (
    ("trusted, wrong name", "evil.example.net", _trusting),
    ("system CAs only", API_HOST, ssl.create_default_context()),
):
    try:
        https_get(_name, _ctx)
    except ssl.SSLCertVerificationError as err:
        print(f"{_label}: refused -", err.verify_message)
_httpd.shutdown()
_httpd.server_close()

# %% [markdown]
# The handshake negotiated TLS 1.3 with an AEAD cipher, the client checked the name against the
# certificate's subject alternative names, and a client that does not trust the issuer refused.
# (On AWS you would not self-sign: ACM issues a public certificate for the internet-facing name,
# and ACM Private CA or your own CA signs internal ones.)
#
# On AWS, TLS usually terminates at the **Application Load Balancer**. The lab's network and ALB:

# %% locked=true
_vpc_tags = [{"ResourceType": "vpc", "Tags": TAGS}]
VPC_ID = ec2.create_vpc(CidrBlock="10.12.0.0/16", TagSpecifications=_vpc_tags)["Vpc"]["VpcId"]
SUBNETS = [
    ec2.create_subnet(VpcId=VPC_ID, CidrBlock=f"10.12.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
    for i, az in enumerate("ab", start=1)
]
ALB_SG = ec2.create_security_group(
    GroupName=f"{NAME}-alb", Description="public HTTPS for the scoring API", VpcId=VPC_ID
)["GroupId"]
ec2.authorize_security_group_ingress(
    GroupId=ALB_SG,
    IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]} for p in (80, 443)
    ],
)
ALB_ARN = elbv2.create_load_balancer(
    Name=ALB_NAME, Subnets=SUBNETS, SecurityGroups=[ALB_SG], Scheme="internet-facing", Type="application", Tags=TAGS
)["LoadBalancers"][0]["LoadBalancerArn"]
TG_ARN = elbv2.create_target_group(
    Name=TG_NAME, Protocol="HTTP", Port=8000, VpcId=VPC_ID, TargetType="ip", HealthCheckPath="/health"
)["TargetGroups"][0]["TargetGroupArn"]
print("ALB:", ALB_NAME, "| target group:", TG_NAME)

# %% [markdown]
# ## Exercise 2: a certificate in ACM and an HTTPS-only load balancer
#
# 1. **Import** the certificate above into ACM (`acm.import_certificate(Certificate=CERT_PEM,
#    PrivateKey=KEY_PEM, Tags=TAGS)`) and keep its ARN in `IMPORTED_CERT_ARN`.
# 2. **Request** a public, DNS-validated certificate for `DOMAIN` with the subject alternative name
#    `*.{DOMAIN}` (one certificate for every host under the domain), tagged `TAGS`; keep its ARN in
#    `PUBLIC_CERT_ARN`. (ACM answers with the CNAME record to create in your DNS zone; once it sees
#    the record it issues the certificate, and renews it for as long as the record stays.)
# 3. On the ALB (`ALB_ARN`), create an **HTTPS listener on 443** with the imported certificate,
#    the security policy `ELBSecurityPolicy-TLS13-1-2-2021-06` (TLS 1.2 and 1.3 only) and a `forward`
#    action to `TG_ARN`;
# 4. and an **HTTP listener on 80** whose only action **redirects to HTTPS on port 443 with a
#    permanent redirect** (`HTTP_301`), so no request is served in clear text.
#
# <details><summary>Hint 1</summary><code>acm.request_certificate(DomainName=DOMAIN,
# SubjectAlternativeNames=[f"*.{DOMAIN}"], ValidationMethod="DNS", Tags=TAGS)</code>.
# <code>elbv2.create_listener(LoadBalancerArn=ALB_ARN, Protocol="HTTPS", Port=443, SslPolicy=...,
# Certificates=[{"CertificateArn": IMPORTED_CERT_ARN}], DefaultActions=[{"Type": "forward", "TargetGroupArn":
# TG_ARN}])</code></details>
# <details><summary>Hint 2</summary>The redirect action: <code>{"Type": "redirect", "RedirectConfig":
# {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}</code>. Without an explicit policy the
# listener gets <code>ELBSecurityPolicy-2016-08</code>, which still accepts TLS 1.0.</details>

# %% answer="tls"
### BEGIN SOLUTION
IMPORTED_CERT_ARN = acm.import_certificate(Certificate=CERT_PEM, PrivateKey=KEY_PEM, Tags=TAGS)["CertificateArn"]
PUBLIC_CERT_ARN = acm.request_certificate(
    DomainName=DOMAIN, SubjectAlternativeNames=[f"*.{DOMAIN}"], ValidationMethod="DNS", Tags=TAGS
)["CertificateArn"]
elbv2.create_listener(
    LoadBalancerArn=ALB_ARN,
    Protocol="HTTPS",
    Port=443,
    SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
    Certificates=[{"CertificateArn": IMPORTED_CERT_ARN}],
    DefaultActions=[{"Type": "forward", "TargetGroupArn": TG_ARN}],
)
_ = elbv2.create_listener(
    LoadBalancerArn=ALB_ARN,
    Protocol="HTTP",
    Port=80,
    DefaultActions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}
    ],
)
### END SOLUTION

# %% check="tls" points=1
_listeners = {x["Port"]: x for x in elbv2.describe_listeners(LoadBalancerArn=ALB_ARN)["Listeners"]}
assert set(_listeners) == {80, 443}, f"expected listeners on ports 80 and 443, saw {sorted(_listeners)}"
_https = _listeners[443]
assert _https["Protocol"] == "HTTPS", f"port 443: expected HTTPS, saw {_https['Protocol']}"
_cert_arn = _https["Certificates"][0]["CertificateArn"]
_cert = acm.describe_certificate(CertificateArn=_cert_arn)["Certificate"]
assert _cert["DomainName"] == API_HOST and _cert["Type"] == "IMPORTED", (
    f"port 443: expected the imported certificate for {API_HOST}, saw {_cert['Type']} {_cert['DomainName']}"
)
_redirect = _listeners[80]["DefaultActions"][0]
assert _redirect["Type"] == "redirect", f"port 80: expected a redirect, saw {_redirect['Type']}"
### BEGIN HIDDEN TESTS
assert _https.get("SslPolicy") == "ELBSecurityPolicy-TLS13-1-2-2021-06", (
    f"expected SslPolicy ELBSecurityPolicy-TLS13-1-2-2021-06 (TLS 1.2+), saw {_https.get('SslPolicy')!r}"
)
_fwd = _https["DefaultActions"][0]
assert _fwd["Type"] == "forward" and _fwd.get("TargetGroupArn") == TG_ARN, (
    f"port 443: expected forward to {TG_NAME}, saw {_fwd}"
)
_rc = _redirect.get("RedirectConfig", {})
assert (_rc.get("Protocol"), str(_rc.get("Port")), _rc.get("StatusCode")) == ("HTTPS", "443", "HTTP_301"), (
    f"port 80: expected a permanent redirect to HTTPS:443, saw {_rc}"
)
assert len(_listeners[80]["DefaultActions"]) == 1, "port 80 must only redirect"
_serial = _cert["Serial"]  # AWS: colon-separated hex; moto: decimal
_serial = int(_serial.replace(":", ""), 16) if ":" in _serial else int(_serial)
assert _serial == CERT.serial_number, "the listener's certificate is not the one generated above"
assert set(_cert["SubjectAlternativeNames"]) >= {API_HOST, SCORE_HOST}, f"SANs: {_cert['SubjectAlternativeNames']}"
_public = acm.describe_certificate(CertificateArn=PUBLIC_CERT_ARN)["Certificate"]
assert _public["Type"] == "AMAZON_ISSUED", f"public certificate: expected AMAZON_ISSUED, saw {_public['Type']}"
assert set(_public["SubjectAlternativeNames"]) == {DOMAIN, f"*.{DOMAIN}"}, (
    f"public certificate: expected {DOMAIN} and *.{DOMAIN}, saw {_public['SubjectAlternativeNames']}"
)
_methods = {o.get("ValidationMethod") for o in _public["DomainValidationOptions"]}
assert _methods == {"DNS"}, f"public certificate: expected DNS validation, saw {_methods}"
for _c in (_cert_arn, PUBLIC_CERT_ARN):
    _t = {t["Key"]: t["Value"] for t in acm.list_tags_for_certificate(CertificateArn=_c).get("Tags", [])}
    assert _t.get("lab_run") == NAME, f"certificate {_c.rsplit('/', 1)[-1]}: expected tag lab_run={NAME}, saw {_t}"
### END HIDDEN TESTS

# %% locked=true
if "PUBLIC_CERT_ARN" in globals():
    for _o in acm.describe_certificate(CertificateArn=PUBLIC_CERT_ARN)["Certificate"]["DomainValidationOptions"][:1]:
        _rr = _o.get("ResourceRecord", {})
        print(
            f"create in DNS: {_rr.get('Name')} {_rr.get('Type')} {_rr.get('Value')}  (status {_o['ValidationStatus']})"
        )

# %% [markdown]
# ## Part 3 — WAF and Shield for the API
#
# **AWS WAF** sits in front of the ALB (or CloudFront, API Gateway) and decides per HTTP request,
# before your code runs. A **web ACL** is an ordered list of rules; each has a statement (match
# the client IP against an **IP set**, a string in the path, the body size, the country, the request
# *rate* of a client...) and an action (`Block`, `Allow`, `Count` to observe first, `Captcha`).
# **Managed rule groups** maintained by AWS cover the OWASP basics (`AWSManagedRulesCommonRuleSet`:
# XSS, path traversal, oversized bodies; `AWSManagedRulesKnownBadInputsRuleSet`: Log4Shell and
# similar exploit payloads). A WAF web ACL costs $5/month plus $1 per rule and $0.60 per million
# requests.
#
# **AWS Shield Standard** protects every AWS customer from common network-layer DDoS (SYN floods,
# UDP reflection) at no charge. **Shield Advanced** ($3,000/month, one-year commitment) adds
# application-layer DDoS detection for protected resources, the Shield Response Team, and credits
# for the scaling charges an attack causes. WAF rate limits are the layer-7 tool you get either way.
#
# For a fraud-scoring API, the traffic you want to stop: known bad addresses (threat-intelligence
# feeds, abuse reports), anyone but the office reaching `/admin`, exploit payloads, oversized
# requests, and a client hammering `/score` (credential-stuffing and model-extraction attacks
# query a model at high rates).

# %% locked=true
BAD_ACTORS = ["203.0.113.0/24", "198.51.100.66/32"]  # documentation ranges standing in for a threat feed
OFFICE_CIDRS = ["192.0.2.0/28"]
VISIBILITY = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True}
print("ALB to protect:", ALB_ARN)

# %% [markdown]
# ## Exercise 3: the web ACL
#
# Create (scope `REGIONAL`, the scope for ALBs) the IP sets `BAD_ACTORS_SET` (addresses
# `BAD_ACTORS`) and `OFFICE_SET` (`OFFICE_CIDRS`), both `IPV4`, and the web ACL `WEB_ACL` with default
# action **Allow** and these rules, in this priority order:
#
# | priority | name | statement | action |
# |---|---|---|---|
# | 0 | `block-bad-actors` | client IP in `BAD_ACTORS_SET` | Block |
# | 1 | `admin-office-only` | URI path starts with `/admin` (after a `LOWERCASE` transformation) **and not** client IP in `OFFICE_SET` | Block |
# | 2 | `aws-common` | managed rule group `AWS` / `AWSManagedRulesCommonRuleSet` | override action `None` (the group's own actions apply) |
# | 3 | `aws-bad-inputs` | managed rule group `AWS` / `AWSManagedRulesKnownBadInputsRuleSet` | override action `None` |
# | 4 | `rate-limit-score` | rate-based: more than **100** requests per client IP in **300 s**, counting only requests whose path starts with `/score` | Block with response code **429** |
# | 5 | `block-large-body` | body larger than **4096** bytes | Block |
#
# Every rule and the ACL need a `VisibilityConfig` (use `{**VISIBILITY, "MetricName": <rule name>}`).
# Then **associate** the web ACL with the ALB (`ALB_ARN`).
#
# <details><summary>Hint 1</summary>A path condition:
# <code>{"ByteMatchStatement": {"SearchString": b"/admin", "FieldToMatch": {"UriPath": {}}, "TextTransformations":
# [{"Priority": 0, "Type": "LOWERCASE"}], "PositionalConstraint": "STARTS_WITH"}}</code>; combine with
# <code>AndStatement</code> / <code>NotStatement</code> and <code>{"IPSetReferenceStatement": {"ARN": ...}}</code>.
# The ARN comes back from <code>create_ip_set(...)["Summary"]["ARN"]</code>.</details>
# <details><summary>Hint 2</summary>Rate limit: <code>{"RateBasedStatement": {"Limit": 100, "EvaluationWindowSec":
# 300, "AggregateKeyType": "IP", "ScopeDownStatement": ...}}</code> with <code>"Action": {"Block": {"CustomResponse":
# {"ResponseCode": 429}}}</code>; a managed group rule has <code>"OverrideAction": {"None": {}}</code> instead of
# <code>Action</code>. Body size: <code>SizeConstraintStatement</code> with <code>"FieldToMatch": {"Body": {}}</code>,
# <code>"ComparisonOperator": "GT"</code>, <code>"Size": 4096</code>.</details>


# %% answer="waf"
### BEGIN SOLUTION
def ip_set_arn(name: str, addresses: list[str]) -> str:
    if (existing := _ip_set_summary(name)) is not None:
        return existing["ARN"]
    return wafv2.create_ip_set(Name=name, Scope="REGIONAL", IPAddressVersion="IPV4", Addresses=addresses, Tags=TAGS)[
        "Summary"
    ]["ARN"]


def path_starts_with(prefix: str, transform: str = "NONE") -> dict:
    return {
        "ByteMatchStatement": {
            "SearchString": prefix.encode(),
            "FieldToMatch": {"UriPath": {}},
            "TextTransformations": [{"Priority": 0, "Type": transform}],
            "PositionalConstraint": "STARTS_WITH",
        }
    }


def rule(name: str, priority: int, statement: dict, action: dict | None = None) -> dict:
    r = {
        "Name": name,
        "Priority": priority,
        "Statement": statement,
        "VisibilityConfig": {**VISIBILITY, "MetricName": name},
    }
    if action is None:
        r["OverrideAction"] = {"None": {}}
    else:
        r["Action"] = action
    return r


def managed(name: str) -> dict:
    return {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name}}


_bad, _office = ip_set_arn(BAD_ACTORS_SET, BAD_ACTORS), ip_set_arn(OFFICE_SET, OFFICE_CIDRS)
RULES = [
    rule("block-bad-actors", 0, {"IPSetReferenceStatement": {"ARN": _bad}}, {"Block": {}}),
    rule(
        "admin-office-only",
        1,
        {
            "AndStatement": {
                "Statements": [
                    path_starts_with("/admin", "LOWERCASE"),
                    {"NotStatement": {"Statement": {"IPSetReferenceStatement": {"ARN": _office}}}},
                ]
            }
        },
        {"Block": {}},
    ),
    rule("aws-common", 2, managed("AWSManagedRulesCommonRuleSet")),
    rule("aws-bad-inputs", 3, managed("AWSManagedRulesKnownBadInputsRuleSet")),
    rule(
        "rate-limit-score",
        4,
        {
            "RateBasedStatement": {
                "Limit": 100,
                "EvaluationWindowSec": 300,
                "AggregateKeyType": "IP",
                "ScopeDownStatement": path_starts_with("/score"),
            }
        },
        {"Block": {"CustomResponse": {"ResponseCode": 429}}},
    ),
    rule(
        "block-large-body",
        5,
        {
            "SizeConstraintStatement": {
                "FieldToMatch": {"Body": {}},
                "ComparisonOperator": "GT",
                "Size": 4096,
                "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
            }
        },
        {"Block": {}},
    ),
]
_acl_args = dict(
    Name=WEB_ACL,
    Scope="REGIONAL",
    DefaultAction={"Allow": {}},
    Rules=RULES,
    VisibilityConfig={**VISIBILITY, "MetricName": WEB_ACL},
)
if (_existing := _web_acl_summary(WEB_ACL)) is None:
    WEB_ACL_ARN = wafv2.create_web_acl(**_acl_args, Tags=TAGS)["Summary"]["ARN"]
else:
    _token = wafv2.get_web_acl(Name=WEB_ACL, Scope="REGIONAL", Id=_existing["Id"])["LockToken"]
    wafv2.update_web_acl(**_acl_args, Id=_existing["Id"], LockToken=_token)
    WEB_ACL_ARN = _existing["ARN"]
_ = wafv2.associate_web_acl(WebACLArn=WEB_ACL_ARN, ResourceArn=ALB_ARN)
### END SOLUTION


# %% locked=true
def lab_web_acl() -> dict:
    """The web ACL as WAF stores it, read back by name (AssertionError if it does not exist)."""
    summary = _web_acl_summary(WEB_ACL)
    assert summary is not None, f"web ACL {WEB_ACL} does not exist"
    return wafv2.get_web_acl(Name=WEB_ACL, Scope="REGIONAL", Id=summary["Id"])["WebACL"]


def traffic() -> list[tuple[str, Request]]:
    """A minute of traffic at the API: (who, request), in time order."""
    t, out = 0.0, []
    for i in range(150):  # a client scripting /score at 2.5 requests/s, its own health checks in between
        out.append(("flood /score", Request("198.51.100.99", "/score", "POST", body=b'{"amount": 1}', time=t)))
        if i % 10 == 0:
            out.append(("flood /health", Request("198.51.100.99", "/health", time=t + 0.1)))
        if i % 15 == 0:
            out.append(
                ("normal client", Request("198.51.100.7", "/score", "POST", body=b'{"amount": 12.5}', time=t + 0.2))
            )
        t += 0.4
    extra = [
        ("bad actor", Request("203.0.113.50", "/score", "POST", body=b"{}")),
        ("listed single address", Request("198.51.100.66", "/health")),
        ("admin from outside", Request("198.51.100.7", "/admin/reload")),
        ("ADMIN from outside", Request("198.51.100.7", "/ADMIN/reload")),
        ("admin from office", Request("192.0.2.5", "/admin/reload")),
        ("large body", Request("198.51.100.8", "/score", "POST", body=b"x" * 5000)),
        ("4 KB body", Request("198.51.100.8", "/score", "POST", body=b"x" * 4096)),
    ]
    return out + [
        (who, Request(r.ip, r.path, r.method, r.query, r.headers, r.body, r.country, t + i))
        for i, (who, r) in enumerate(extra)
    ]


# %% check="waf" points=1
_acl = lab_web_acl()
assert "Allow" in _acl["DefaultAction"], f"expected default action Allow, saw {_acl['DefaultAction']}"
_names = [r["Name"] for r in sorted(_acl["Rules"], key=lambda r: r["Priority"])]
_expected_names = [
    "block-bad-actors",
    "admin-office-only",
    "aws-common",
    "aws-bad-inputs",
    "rate-limit-score",
    "block-large-body",
]
assert _names == _expected_names, f"expected rules {_expected_names} in priority order, saw {_names}"
try:
    _assoc = wafv2.get_web_acl_for_resource(ResourceArn=ALB_ARN).get("WebACL", {}).get("Name")
except ClientError:
    _assoc = None
assert _assoc == WEB_ACL, f"expected {WEB_ACL} associated with the ALB, saw {_assoc!r}"
_waf = WebAclEvaluator(_acl, ip_sets_for(wafv2, _acl))
_verdicts = [(who, _waf(r)) for who, r in traffic()]
_by = {}
for _who, _v in _verdicts:
    _by.setdefault(_who, []).append(_v)
assert _by["bad actor"][0].rule == "block-bad-actors", (
    f"bad actor: expected block-bad-actors, saw {_by['bad actor'][0]}"
)
assert all(v.allowed for v in _by["normal client"]), "the normal client should always be allowed"
### BEGIN HIDDEN TESTS
_groups = {r["Name"]: r for r in _acl["Rules"]}
for _g, _group_name in (
    ("aws-common", "AWSManagedRulesCommonRuleSet"),
    ("aws-bad-inputs", "AWSManagedRulesKnownBadInputsRuleSet"),
):
    _stmt = _groups[_g]["Statement"].get("ManagedRuleGroupStatement", {})
    assert (_stmt.get("VendorName"), _stmt.get("Name")) == ("AWS", _group_name), (
        f"{_g}: expected AWS/{_group_name}, saw {_stmt}"
    )
    assert "None" in (_groups[_g].get("OverrideAction") or {}), (
        f"{_g}: expected OverrideAction None (enforce), saw {_groups[_g].get('OverrideAction')}"
    )
assert _by["listed single address"][0].action == "BLOCK", "198.51.100.66 is on the bad-actor list"
assert _by["admin from outside"][0].rule == "admin-office-only", f"/admin from outside: {_by['admin from outside'][0]}"
assert _by["ADMIN from outside"][0].rule == "admin-office-only", "/ADMIN from outside must be blocked too (LOWERCASE)"
assert _by["admin from office"][0].allowed, f"/admin from the office must be allowed, saw {_by['admin from office'][0]}"
assert _by["large body"][0].rule == "block-large-body", f"a 5000-byte body: {_by['large body'][0]}"
assert _by["4 KB body"][0].allowed, f"a body of exactly 4096 bytes is allowed, saw {_by['4 KB body'][0]}"
_flood = _by["flood /score"]
_allowed = sum(v.allowed for v in _flood)
assert _allowed == 100, f"flood: expected exactly the first 100 /score requests allowed, saw {_allowed}"
assert all(v.allowed for v in _flood[:100]) and all(v.status == 429 for v in _flood[100:]), (
    f"flood: expected 429 after 100 requests, saw statuses {sorted({v.status for v in _flood[100:]}, key=str)}"
)
assert all(v.allowed for v in _by["flood /health"]), (
    "the rate limit must only count /score (scope-down), /health was blocked"
)
### END HIDDEN TESTS

# %% check="waf" points=1
# the rate limit resets after the window, and every client has its own count
_later = WebAclEvaluator(lab_web_acl(), ip_sets_for(wafv2, lab_web_acl()))
_burst = _later.replay(Request("198.51.100.120", "/score", "POST", body=b"{}", time=i * 0.5) for i in range(120))
assert sum(v.allowed for v in _burst) == 100, (
    f"expected 100 of 120 allowed in one window, saw {sum(v.allowed for v in _burst)}"
)
### BEGIN HIDDEN TESTS
assert _later(Request("198.51.100.121", "/score", "POST", body=b"{}", time=61)).allowed, (
    "another client must not be limited"
)
assert _later(Request("198.51.100.120", "/score", "POST", body=b"{}", time=400)).allowed, (
    "300 s after the burst the client must be served again (EvaluationWindowSec=300)"
)
assert not _later(Request("198.51.100.120", "/Admin", time=401)).allowed, "/Admin from outside must be blocked"
_rate = {r["Name"]: r for r in lab_web_acl()["Rules"]}["rate-limit-score"]["Statement"]["RateBasedStatement"]
assert (_rate.get("Limit"), _rate.get("EvaluationWindowSec", 300), _rate.get("AggregateKeyType")) == (100, 300, "IP"), (
    f"rate-limit-score: expected Limit 100 per IP per 300 s, saw {_rate}"
)
### END HIDDEN TESTS

# %% [markdown]
# What the evaluator did with the minute of traffic (on AWS, the same numbers come from the web
# ACL's CloudWatch metrics and its sampled requests):

# %% locked=true
try:
    _acl_now = lab_web_acl()
    _replay = WebAclEvaluator(_acl_now, ip_sets_for(wafv2, _acl_now))
    _rows = [(who, v.action, v.rule or "(default)", v.status or "-") for who, r in traffic() for v in [_replay(r)]]
    display(
        pd.DataFrame(_rows, columns=["client", "action", "rule", "status"]).value_counts().rename("requests").to_frame()
    )
    print(
        "not evaluated here (AWS's managed rules run only in WAF):",
        _replay(Request("192.0.2.200", "/", time=999)).not_evaluated,
    )
except AssertionError as err:
    print("no web ACL yet:", err)

# %% [markdown]
# **Shield Advanced** is a subscription per account; then you name the resources to protect. On the
# emulator the lab subscribes and protects the ALB; against real AWS this cell only reads the
# subscription state (a subscription is a one-year commitment at $3,000/month).

# %% locked=true
if EMULATED:
    try:
        shield.describe_subscription()
    except shield.exceptions.ResourceNotFoundException:
        shield.create_subscription()
    _protection = shield.create_protection(Name=f"{NAME}-api", ResourceArn=ALB_ARN)["ProtectionId"]
    print("Shield Advanced protection:", _protection, "for", ALB_NAME)
else:
    try:
        print("Shield Advanced subscription ends", shield.describe_subscription()["Subscription"]["EndTime"])
    except ClientError as err:
        print("no Shield Advanced subscription (Shield Standard protects the ALB):", err.response["Error"]["Code"])

# %% [markdown]
# ## Part 4 — GuardDuty for threat detection
#
# **GuardDuty** reads what the account already produces — CloudTrail management and S3 data
# events, VPC flow logs, DNS queries, EKS audit logs, and (with an agent) process activity — and
# raises **findings**: an instance talking to a known command-and-control server, credentials used
# from an unusual place, a bucket read from a Tor exit node, crypto-mining. Each finding has a
# `type` (`Recon:EC2/PortProbeUnprotectedPort`, `UnauthorizedAccess:IAMUser/...`), a **severity**
# (Low 1.0–3.9, Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0) and the affected resource.
# GuardDuty publishes every finding to **EventBridge**, which is how you act on it.
#
# An account has **one detector per Region**; on AWS you reuse it. Here, so that runs sharing the
# emulator do not collide, each run creates its own detector tagged `lab_run=NAME`
# (`lab_detector()` finds it). The emulator keeps detectors and filters but implements neither
# `ListFindings` nor sample findings:

# %% locked=true
try:
    guardduty.list_findings(DetectorId=lab_detector() or "0" * 32)
    print("ListFindings answered")
except ClientError as err:
    print("ListFindings on the emulator:", err.response["Error"]["Code"], "(not implemented by moto)")

# %% [markdown]
# So the lab injects findings in GuardDuty's event format into an event bus and lets EventBridge's
# pattern matching (which moto implements) route them. Internet-facing instances get port-probed
# all day: a Low `Recon:EC2/PortProbeUnprotectedPort` finding is noise worth archiving
# automatically, while anything High or Critical should page someone.
#
# ## Exercise 4: a detector, a suppression rule and the alert route
#
# 1. If `lab_detector()` is `None`, create a detector: enabled, `FindingPublishingFrequency=
#    "FIFTEEN_MINUTES"` (the default, six hours, is too slow to page on), the feature
#    `S3_DATA_EVENTS` enabled (access to the model and data buckets), and tags `{"lab_run": NAME}`.
# 2. Create the filter `ARCHIVE_FILTER` on it with action `ARCHIVE`, rank 1, matching findings of type
#    `Recon:EC2/PortProbeUnprotectedPort` **with severity below 4**.
# 3. Create the event bus `SECURITY_BUS` (standing in for the default bus GuardDuty publishes to), the
#    SQS queue `ALERT_QUEUE` (standing in for the on-call SNS topic / pager), and on the bus the rule
#    `FINDINGS_RULE` matching events with `source` `aws.guardduty`, `detail-type` `GuardDuty Finding`
#    and `detail.severity` **of 7 or more** (High and Critical), with the queue as its target.
#    Give the queue a policy that lets `events.amazonaws.com` send messages from that rule (AWS
#    enforces it; moto does not).
#
# <details><summary>Hint 1</summary><code>guardduty.create_filter(DetectorId=..., Name=ARCHIVE_FILTER, Action="ARCHIVE", Rank=1,
# FindingCriteria={"Criterion": {"type": {"Eq": [...]}, "severity": {"Lt": 4}}})</code>.</details>
# <details><summary>Hint 2</summary>A numeric match in an event pattern:
# <code>{"detail": {"severity": [{"numeric": [">=", 7]}]}}</code>; pass the pattern as a JSON string to
# <code>events.put_rule(Name=..., EventBusName=SECURITY_BUS, EventPattern=...)</code>, then
# <code>events.put_targets(Rule=..., EventBusName=SECURITY_BUS, Targets=[{"Id": "oncall", "Arn": queue_arn}])</code>.
# The queue policy: a statement with <code>"Principal": {"Service": "events.amazonaws.com"}</code>,
# <code>"Action": "sqs:SendMessage"</code> and <code>"Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}</code>.</details>

# %% answer="guardduty"
### BEGIN SOLUTION
DETECTOR_ID = (
    lab_detector()
    or guardduty.create_detector(
        Enable=True,
        FindingPublishingFrequency="FIFTEEN_MINUTES",
        Features=[{"Name": "S3_DATA_EVENTS", "Status": "ENABLED"}],
        Tags={"lab_run": NAME},
    )["DetectorId"]
)
try:
    guardduty.get_filter(DetectorId=DETECTOR_ID, FilterName=ARCHIVE_FILTER)
except ClientError:  # not there yet
    guardduty.create_filter(
        DetectorId=DETECTOR_ID,
        Name=ARCHIVE_FILTER,
        Action="ARCHIVE",
        Rank=1,
        Description="internet background noise on public instances",
        FindingCriteria={"Criterion": {"type": {"Eq": ["Recon:EC2/PortProbeUnprotectedPort"]}, "severity": {"Lt": 4}}},
    )
if not any(b["Name"] == SECURITY_BUS for b in events.list_event_buses(NamePrefix=NAME)["EventBuses"]):
    events.create_event_bus(Name=SECURITY_BUS)
_queue_url = sqs.create_queue(QueueName=ALERT_QUEUE)["QueueUrl"]
_queue_arn = sqs.get_queue_attributes(QueueUrl=_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
_pattern = {
    "source": ["aws.guardduty"],
    "detail-type": ["GuardDuty Finding"],
    "detail": {"severity": [{"numeric": [">=", 7]}]},
}
_rule_arn = events.put_rule(Name=FINDINGS_RULE, EventBusName=SECURITY_BUS, EventPattern=json.dumps(_pattern))["RuleArn"]
sqs.set_queue_attributes(
    QueueUrl=_queue_url,
    Attributes={
        "Policy": json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "EventBridgeFindings",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": _queue_arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": _rule_arn}},
                    }
                ],
            }
        )
    },
)
_ = events.put_targets(Rule=FINDINGS_RULE, EventBusName=SECURITY_BUS, Targets=[{"Id": "oncall", "Arn": _queue_arn}])
### END SOLUTION


# %% locked=true
def finding_event(finding_id: str, finding_type: str, severity: float, source: str = "aws.guardduty") -> dict:
    """A PutEvents entry shaped like the events GuardDuty publishes (the `detail` is the finding)."""
    detail = {
        "schemaVersion": "2.0",
        "accountId": "123456789012",
        "region": REGION,
        "id": finding_id,
        "type": finding_type,
        "severity": severity,
        "title": finding_type,
        "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0123456789abcdef0"}},
        "service": {"serviceName": "guardduty", "count": 1, "archived": False},
    }
    return {
        "Source": source,
        "DetailType": "GuardDuty Finding",
        "Detail": json.dumps(detail),
        "EventBusName": SECURITY_BUS,
    }


def deliver(entries: list[dict]) -> list[str]:
    """Put the events on the bus and return the finding ids that reached the alert queue."""
    urls = sqs.list_queues(QueueNamePrefix=ALERT_QUEUE).get("QueueUrls", [])
    assert urls, f"queue {ALERT_QUEUE} does not exist"
    while batch := sqs.receive_message(QueueUrl=urls[0], MaxNumberOfMessages=10).get("Messages", []):  # drain
        for message in batch:
            sqs.delete_message(QueueUrl=urls[0], ReceiptHandle=message["ReceiptHandle"])
    result = events.put_events(Entries=entries)
    assert result["FailedEntryCount"] == 0, f"put_events failed: {result['Entries']}"
    received = []
    for _ in range(5):
        batch = sqs.receive_message(QueueUrl=urls[0], MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            break
        for message in batch:
            received.append(json.loads(message["Body"])["detail"]["id"])
            sqs.delete_message(QueueUrl=urls[0], ReceiptHandle=message["ReceiptHandle"])
    return sorted(received)


# %% check="guardduty" points=1
_det = lab_detector()
assert _det is not None, f"no GuardDuty detector tagged lab_run={NAME}"
_d = guardduty.get_detector(DetectorId=_det)
assert _d["Status"] == "ENABLED", f"expected the detector ENABLED, saw {_d['Status']}"
_got = deliver(
    [
        finding_event("high-1", "UnauthorizedAccess:EC2/TorClient", 8.0),
        finding_event("medium-1", "Recon:EC2/Portscan", 5.0),
    ]
)
assert _got == ["high-1"], f"expected only the High finding routed to the queue, saw {_got}"
### BEGIN HIDDEN TESTS
assert _d.get("FindingPublishingFrequency") == "FIFTEEN_MINUTES", (
    f"expected FIFTEEN_MINUTES, saw {_d.get('FindingPublishingFrequency')}"
)
_features = {f["Name"]: f["Status"] for f in _d.get("Features", [])}
_s3_logs = _d.get("DataSources", {}).get("S3Logs", {}).get("Status")
assert _features.get("S3_DATA_EVENTS") == "ENABLED" or _s3_logs == "ENABLED", (
    f"expected S3 data events on, saw {_features}"
)
_f = guardduty.get_filter(DetectorId=_det, FilterName=ARCHIVE_FILTER)
assert _f["Action"] == "ARCHIVE", f"{ARCHIVE_FILTER}: expected action ARCHIVE, saw {_f['Action']}"
_crit = _f["FindingCriteria"]["Criterion"]
assert _crit.get("type", {}).get("Eq") == ["Recon:EC2/PortProbeUnprotectedPort"], f"filter type: {_crit.get('type')}"
_sev = _crit.get("severity", {})
assert _sev.get("Lt") == 4 or _sev.get("LessThan") == 4 or (_sev.get("Lte") is not None and 3.9 <= _sev["Lte"] < 4), (
    f"filter severity: expected below 4 (Low), saw {_sev}"
)
_got = deliver(
    [
        finding_event("high-boundary", "Backdoor:EC2/C&CActivity.B", 7.0),
        finding_event("critical", "CryptoCurrency:EC2/BitcoinTool.B", 9.5),
        finding_event("medium-top", "Recon:EC2/Portscan", 6.9),
        finding_event("low", "Recon:EC2/PortProbeUnprotectedPort", 2.0),
        finding_event("other-source", "Software and Configuration Checks", 9.0, source="aws.securityhub"),
    ]
)
assert _got == ["critical", "high-boundary"], f"expected severity >= 7 from GuardDuty only (7.0 included), saw {_got}"
_policy = json.loads(
    sqs.get_queue_attributes(
        QueueUrl=sqs.list_queues(QueueNamePrefix=ALERT_QUEUE)["QueueUrls"][0], AttributeNames=["Policy"]
    )
    .get("Attributes", {})
    .get("Policy", "{}")
)
_principals = [json.dumps(s.get("Principal")) for s in _policy.get("Statement", []) if s.get("Effect") == "Allow"]
assert any("events.amazonaws.com" in p for p in _principals), (
    f"the queue policy must allow events.amazonaws.com, saw {_policy}"
)
### END HIDDEN TESTS

# %% [markdown]
# On AWS the rule would sit on the default bus, the target would be an SNS topic (or a Lambda that
# isolates the instance: swap its security group, snapshot its volume for forensics), and the
# archive filter would also hide matching findings in the console. Findings also flow to **Security
# Hub**, which aggregates them with Config rule results and Inspector vulnerabilities for the
# compliance view (CIS, PCI DSS — relevant for card data).
#
# ## Part 5 — Cost optimisation
#
# The levers, per service (numbers below are computed from `labkit.pricing`/`labkit.costopt`, dated
# list prices for us-east-1):
#
# | service | lever | typical effect |
# |---|---|---|
# | EC2 | **right-size** from measured utilisation | 30–70% on over-provisioned instances |
# | EC2 | **Spot** for interruptible work (training with checkpoints, batch) | 50–90% off on-demand |
# | EC2 | **Savings Plans / Reserved Instances** for the steady base load | ~30–60% for a 1–3 year commitment |
# | EC2 | stop idle dev/notebook instances; Graviton (`*g`) types | pay only for use; ~20% cheaper per vCPU |
# | S3 | **storage class** per access pattern, lifecycle rules (Module 8) | 50–95% on cold data |
# | RDS | right-size, Graviton classes, single-AZ for dev, **stop** dev databases, reserved instances | 30–75% |
#
# ### The fleet and its metrics
# Five instances run the fraud system's supporting workloads. CloudWatch has their CPU
# utilisation (`AWS/EC2`, published by EC2 itself) and memory utilisation (`CWAgent`, published by
# the CloudWatch agent: EC2 cannot see inside the guest, so memory needs the agent). The emulator
# runs no instances, so the cell below launches them and publishes the hourly history they would
# have produced (AWS refuses `PutMetricData` into `AWS/` namespaces; against real AWS the history
# goes to a namespace of the lab's own).

# %% locked=true
DAYS = 7 if FAST else 13
CPU_NAMESPACE = "AWS/EC2" if EMULATED else "MLOpsLabs/EC2"
MEM_NAMESPACE, MEM_METRIC = "CWAgent", "mem_used_percent"
METRICS_END = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
METRICS_START = METRICS_END - dt.timedelta(days=DAYS)
CPU_TARGET_PCT, MEM_TARGET_PCT = 70.0, 80.0
CPU_TABLE = pd.DataFrame(costopt.cpu_instance_table(ec2)).set_index("instance_type")
_AMI = ssm.get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"][
    "Value"
]


def usage(profile: str, hour_of_day: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hourly CPU and memory utilisation (%) of one workload profile."""
    rng = np.random.default_rng(seed)
    n = len(hour_of_day)
    day = np.sin((hour_of_day - 8) / 24 * 2 * np.pi)  # daily cycle, peak mid-afternoon
    noise = lambda s: rng.normal(0, s, n)
    if profile == "steady-api":
        cpu, mem = 14 + 7 * day + noise(1.5), 28 + noise(1.2)
    elif profile == "nightly-batch":
        batch = np.isin(hour_of_day, (1, 2, 3))
        cpu, mem = np.where(batch, 60 + rng.uniform(0, 6, n), 7 + noise(1.5)), 16 + 4 * batch + noise(1.0)
    elif profile == "spark":
        cpu, mem = 32 + 5 * day + noise(2.0), 27 + 3 * day + noise(1.0)
    elif profile == "notebook":
        office = (hour_of_day >= 9) & (hour_of_day < 17)
        cpu, mem = 2.5 + 3 * office + noise(1.0), 12 + noise(1.0)
    elif profile == "idle":
        cpu, mem = 1 + noise(0.3), 8 + noise(0.5)
    elif profile == "hot":
        cpu, mem = 60 + 12 * day + noise(2.0), 45 + noise(2.0)
    else:
        raise ValueError(profile)
    return np.clip(cpu, 0.1, 100).round(2), np.clip(mem, 0.1, 100).round(2)


def launch_with_history(role: str, instance_type: str, profile: str, seed: int) -> tuple[str, np.ndarray, np.ndarray]:
    """Launch an instance on the emulator and publish `DAYS` of hourly metrics for it."""
    instance_id = ec2.run_instances(
        ImageId=_AMI,
        InstanceType=instance_type,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [*TAGS, {"Key": "Name", "Value": role}]}],
    )["Instances"][0]["InstanceId"]
    LAUNCHED.append(instance_id)
    stamps = [METRICS_START + dt.timedelta(hours=h) for h in range(DAYS * 24)]
    cpu, mem = usage(profile, np.array([s.hour for s in stamps]), seed)
    dims = [{"Name": "InstanceId", "Value": instance_id}]
    for namespace, metric, values in ((CPU_NAMESPACE, "CPUUtilization", cpu), (MEM_NAMESPACE, MEM_METRIC, mem)):
        data = [
            {"MetricName": metric, "Dimensions": dims, "Timestamp": s, "Value": float(v), "Unit": "Percent"}
            for s, v in zip(stamps, values)
        ]
        for start in range(0, len(data), 500):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 500])
    return instance_id, cpu, mem


FLEET_SPEC = {
    "feature-api": ("m6i.2xlarge", "steady-api"),
    "batch-scoring": ("c6i.4xlarge", "nightly-batch"),
    "spark-executor": ("r6i.4xlarge", "spark"),
    "notebook-server": ("m6i.4xlarge", "notebook"),
    "dev-box": ("c6i.2xlarge", "idle"),
}
FLEET, _HISTORY = {}, {}
for _seed, (_role, (_type, _profile)) in enumerate(FLEET_SPEC.items()):
    _iid, _cpu, _mem = launch_with_history(_role, _type, _profile, 100 + _seed)
    FLEET[_role], _HISTORY[_role] = _iid, (_cpu, _mem)
FLEET_IDS = list(FLEET.values())
print(
    f"{len(FLEET)} instances, {DAYS} days of hourly CPU and memory each, {METRICS_START:%Y-%m-%d %H:%M} to {METRICS_END:%Y-%m-%d %H:%M} UTC"
)
CPU_TABLE[["vcpus", "memory_gib", "usd_per_hour", "usd_per_month"]]

# %% [markdown]
# ## Exercise 5: right-size the fleet from CloudWatch
#
# Write `rightsizing(instance_id)` returning a dict with
# `instance_id`, `current_type` (from `ec2.describe_instances`), `p95_cpu`, `p95_mem`,
# `recommended_type` and `monthly_savings_usd`:
#
# - read the **hourly averages** (`Period=3600`, `Statistics=["Average"]`) from `METRICS_START` to
#   `METRICS_END` of `CPUUtilization` in `CPU_NAMESPACE` and of `MEM_METRIC` in `MEM_NAMESPACE`, both
#   with the dimension `InstanceId`;
# - take the **95th percentile** of each (`costopt.p95`, i.e. `np.percentile(values, 95)`): an
#   average hides the peaks the instance must survive, the maximum lets one spike decide;
# - recommend the **cheapest** type in `CPU_TABLE` whose capacity keeps the current demand under
#   `CPU_TARGET_PCT` of its vCPUs **and** `MEM_TARGET_PCT` of its memory: demand is
#   `p95_cpu% × current vCPUs` and `p95_mem% × current memory` (`costopt.rightsize` does exactly this
#   arithmetic; read its docstring);
# - `monthly_savings_usd` = (current − recommended) on-demand price × `pricing.HOURS_PER_MONTH`
#   (negative if the instance must grow).
#
# Then build `FLEET_REPORT = pd.DataFrame([rightsizing(i) for i in FLEET_IDS])`.
#
# Moto's CloudWatch returns no value for percentile statistics (`ExtendedStatistics=["p95"]`), so
# compute the percentile here; on AWS you can ask CloudWatch for `p95` directly, and **AWS Compute
# Optimizer** makes this recommendation for you from 14 days of metrics (memory only with the agent).
#
# <details><summary>Hint 1</summary><code>cloudwatch.get_metric_statistics(Namespace=CPU_NAMESPACE,
# MetricName="CPUUtilization", Dimensions=[{"Name": "InstanceId", "Value": instance_id}], StartTime=METRICS_START,
# EndTime=METRICS_END, Period=3600, Statistics=["Average"])["Datapoints"]</code>, then
# <code>[d["Average"] for d in datapoints]</code>.</details>
# <details><summary>Hint 2</summary><code>rec = costopt.rightsize(current_type, p95_cpu, p95_mem, CPU_TABLE,
# cpu_target_pct=CPU_TARGET_PCT, mem_target_pct=MEM_TARGET_PCT)</code>; <code>rec.instance_type</code>,
# <code>rec.monthly_savings_usd</code>.</details>


# %% answer="rightsizing"
### BEGIN SOLUTION
def _hourly(namespace: str, metric: str, instance_id: str) -> list[float]:
    points = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
        StartTime=METRICS_START,
        EndTime=METRICS_END,
        Period=3600,
        Statistics=["Average"],
    )["Datapoints"]
    return [p["Average"] for p in points]


def rightsizing(instance_id: str) -> dict:
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    p95_cpu = costopt.p95(_hourly(CPU_NAMESPACE, "CPUUtilization", instance_id))
    p95_mem = costopt.p95(_hourly(MEM_NAMESPACE, MEM_METRIC, instance_id))
    rec = costopt.rightsize(
        instance["InstanceType"],
        p95_cpu,
        p95_mem,
        CPU_TABLE,
        cpu_target_pct=CPU_TARGET_PCT,
        mem_target_pct=MEM_TARGET_PCT,
    )
    return {
        "instance_id": instance_id,
        "current_type": instance["InstanceType"],
        "p95_cpu": p95_cpu,
        "p95_mem": p95_mem,
        "recommended_type": rec.instance_type,
        "monthly_savings_usd": rec.monthly_savings_usd,
    }


FLEET_REPORT = pd.DataFrame([rightsizing(i) for i in FLEET_IDS])
### END SOLUTION
FLEET_REPORT


# %% locked=true
def _expected(instance_type: str, cpu: np.ndarray, mem: np.ndarray) -> costopt.Recommendation:
    """What the published history implies (the check recomputes it from the numbers it published)."""
    return costopt.rightsize(
        instance_type,
        costopt.p95(cpu),
        costopt.p95(mem),
        CPU_TABLE,
        cpu_target_pct=CPU_TARGET_PCT,
        mem_target_pct=MEM_TARGET_PCT,
    )


# %% check="rightsizing" points=1
assert "FLEET_REPORT" in globals(), "FLEET_REPORT is not defined: build it in the exercise cell above"
_report = FLEET_REPORT.set_index("instance_id")
assert set(_report.index) == set(FLEET_IDS), f"expected one row per fleet instance, saw {list(_report.index)}"
for _role, _iid in FLEET.items():
    _cpu, _mem = _HISTORY[_role]
    _exp = _expected(FLEET_SPEC[_role][0], _cpu, _mem)
    _row = _report.loc[_iid]
    assert _row["current_type"] == FLEET_SPEC[_role][0], f"{_role}: current type {_row['current_type']}"
    assert abs(_row["p95_cpu"] - costopt.p95(_cpu)) < 1.0, (
        f"{_role}: expected p95 CPU {costopt.p95(_cpu):.1f}%, saw {_row['p95_cpu']:.1f}"
    )
    assert _row["recommended_type"] == _exp.instance_type, (
        f"{_role} ({FLEET_SPEC[_role][0]}): expected {_exp.instance_type}, saw {_row['recommended_type']}"
    )
### BEGIN HIDDEN TESTS
for _role, _iid in FLEET.items():
    _cpu, _mem = _HISTORY[_role]
    _exp = _expected(FLEET_SPEC[_role][0], _cpu, _mem)
    _row = _report.loc[_iid]
    assert abs(_row["p95_mem"] - costopt.p95(_mem)) < 1.0, (
        f"{_role}: expected p95 memory {costopt.p95(_mem):.1f}%, saw {_row['p95_mem']:.1f}"
    )
    assert abs(_row["monthly_savings_usd"] - _exp.monthly_savings_usd) < 0.5, (
        f"{_role}: expected savings ${_exp.monthly_savings_usd:,.2f}/month, saw {_row['monthly_savings_usd']}"
    )
_total = sum(_expected(FLEET_SPEC[r][0], *_HISTORY[r]).monthly_savings_usd for r in FLEET)
assert abs(_report["monthly_savings_usd"].sum() - _total) < 1.0, (
    f"fleet savings: expected ${_total:,.2f}, saw {_report['monthly_savings_usd'].sum()}"
)
### END HIDDEN TESTS

# %% check="rightsizing" points=1
# a new instance, published only now: the function must read CloudWatch, not the lab's arrays
assert "rightsizing" in globals(), "rightsizing(instance_id) is not defined yet"
_new_id, _new_cpu, _new_mem = launch_with_history("scoring-hot", "m6i.2xlarge", "hot", 777)
_new = rightsizing(_new_id)
_exp = _expected("m6i.2xlarge", _new_cpu, _new_mem)
assert _new["recommended_type"] == _exp.instance_type, (
    f"a hot m6i.2xlarge (p95 CPU {costopt.p95(_new_cpu):.0f}%): expected {_exp.instance_type}, saw {_new['recommended_type']}"
)
### BEGIN HIDDEN TESTS
assert _new["monthly_savings_usd"] < 0 and abs(_new["monthly_savings_usd"] - _exp.monthly_savings_usd) < 0.5, (
    f"growing costs money: expected {_exp.monthly_savings_usd:,.2f}, saw {_new['monthly_savings_usd']}"
)
_idle_id, _idle_cpu, _idle_mem = launch_with_history("batch-2", "m6i.4xlarge", "nightly-batch", 778)
_idle = rightsizing(_idle_id)
_exp = _expected("m6i.4xlarge", _idle_cpu, _idle_mem)
assert _idle["recommended_type"] == _exp.instance_type, (
    f"a nightly batch on m6i.4xlarge: expected {_exp.instance_type} (the p95 sees the batch hours), saw {_idle['recommended_type']}"
)
### END HIDDEN TESTS

# %% [markdown]
# Read the report against the profiles: the API and the notebook server were twice to eight times
# too big; the Spark executor was memory-optimised but needed only the general-purpose ratio; the
# batch scorer *looks* idle on average, but its nightly run keeps 10 of its 16 vCPUs busy — sizing on
# the average (4 vCPUs) would make the batch run two to three times longer. Right-sizing is a change to test, not a
# spreadsheet exercise: resize one instance, watch its p95 and latency for a week, then the rest.
#
# ### Spot instances: what an interruption costs
#
# Spot capacity is spare EC2 capacity at a discount (often 60–90%), which AWS takes back with a
# two-minute warning when it needs it. For training, an interruption loses the work since the last
# **checkpoint** plus the time to get a new instance and reload. Checkpointing often loses less
# work per interruption but costs time on every checkpoint. With interruptions arriving at random
# (rate λ per hour), a segment of `x` hours of work-plus-checkpoint takes on average
# `(e^(λx) − 1)(1/λ + restart)` hours (`costopt.expected_runtime_hours`). The Spot Instance Advisor
# gives an interruption *frequency* per month in buckets (<5%, 5–10%, ... >20%); on big GPU types
# it is often in the top bucket, and teams measure their own rate.
#
# The formula against a simulation of 2,000 jobs (30 h of work on `g5.12xlarge`, 6-minute checkpoints,
# 15-minute restarts, one interruption per 20 hours on average):

# %% locked=true
TRAIN_JOB = {
    "instance_type": "g5.12xlarge",
    "work_hours": 30.0,
    "checkpoint_hours": 0.1,
    "restart_hours": 0.25,
    "deadline_hours": 48.0,
}
SPOT_DISCOUNT, SPOT_INTERRUPTIONS_PER_HOUR = 0.65, 0.05
CHECKPOINT_CHOICES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
_rows = []
for _every in CHECKPOINT_CHOICES:
    _args = (
        TRAIN_JOB["work_hours"],
        _every,
        TRAIN_JOB["checkpoint_hours"],
        TRAIN_JOB["restart_hours"],
        SPOT_INTERRUPTIONS_PER_HOUR,
    )
    _sim = costopt.simulate_runtime_hours(*_args, runs=500 if FAST else 2000, seed=12)
    _rows.append(
        {
            "checkpoint every (h)": _every,
            "expected hours": costopt.expected_runtime_hours(*_args),
            "simulated mean": _sim.mean(),
            "simulated p90": np.percentile(_sim, 90),
        }
    )
print(
    "Young/Daly first-order optimum:",
    round(costopt.young_daly_interval(TRAIN_JOB["checkpoint_hours"], SPOT_INTERRUPTIONS_PER_HOUR), 2),
    "h",
)
pd.DataFrame(_rows).round(2)

# %% [markdown]
# ## Exercise 6: Spot or on-demand, and a storage class per dataset
#
# **(a)** Write `plan_training(job, spot_discount, interruptions_per_hour)` for a job dict like
# `TRAIN_JOB` and return a dict with:
# - `on_demand_hours` = `work_hours + checkpoint_hours` (no interruptions; one final upload) and
#   `on_demand_cost_usd` = those hours × the on-demand price (`pricing.EC2_ON_DEMAND[type].usd_per_hour`);
# - `checkpoint_every_hours`: the value in `CHECKPOINT_CHOICES` with the lowest expected Spot runtime
#   (`costopt.expected_runtime_hours`); `spot_hours`: that expected runtime; `spot_cost_usd` =
#   `spot_hours` × on-demand price × (1 − `spot_discount`);
# - `market`: `"spot"` if `spot_hours <= deadline_hours` **and** `spot_cost_usd < on_demand_cost_usd`,
#   else `"on-demand"`; `cost_usd`: the chosen market's cost.
#
# Set `TRAINING_PLAN = plan_training(TRAIN_JOB, SPOT_DISCOUNT, SPOT_INTERRUPTIONS_PER_HOUR)`.
#
# **(b)** Write `choose_storage_class(pattern)` for a dataset pattern like those in `DATASETS` below,
# returning `(storage_class, total_usd)`: the cheapest class in `pricing.S3_STORAGE` over the data's
# whole life, with `costopt.s3_pattern_cost(class, gb, keep_days, full_reads_per_month)` as the cost
# (it bills each class's **minimum storage duration**), where
# - `latency == "ms"` (read by a service or a training job on demand) rules out the classes that need
#   a restore first (`needs_restore`: Glacier Flexible Retrieval, Deep Archive);
# - data that is **not** `recreatable` must not go to `ONEZONE_IA` (one Availability Zone: lost if the
#   zone is).
#
# Set `STORAGE_PLAN = {name: choose_storage_class(p) for name, p in DATASETS.items()}`.
#
# <details><summary>Hint 1</summary>(a) <code>min(CHECKPOINT_CHOICES, key=lambda every:
# costopt.expected_runtime_hours(job["work_hours"], every, job["checkpoint_hours"], job["restart_hours"], rate))</code>.
# (b) loop over <code>pricing.S3_STORAGE.items()</code>; <code>price.needs_restore</code> says whether a class
# needs a restore.</details>
# <details><summary>Hint 2</summary>Ignoring interruptions makes Spot look ~10% cheaper than it is here, and
# far cheaper when they are frequent; ignoring minimum durations sends 10-day checkpoints to Glacier
# Instant Retrieval, which bills 90 days.</details>

# %% locked=true
DATASETS = {
    "online-features": {"gb": 200, "keep_days": 360, "full_reads_per_month": 30, "latency": "ms", "recreatable": True},
    "raw-transactions-archive": {
        "gb": 5000,
        "keep_days": 7 * 360,
        "full_reads_per_month": 0.02,
        "latency": "hours",
        "recreatable": False,
    },
    "monthly-eval-sets": {
        "gb": 800,
        "keep_days": 360,
        "full_reads_per_month": 0.5,
        "latency": "ms",
        "recreatable": False,
    },
    "training-checkpoints": {
        "gb": 300,
        "keep_days": 10,
        "full_reads_per_month": 0.1,
        "latency": "ms",
        "recreatable": True,
    },
    "scoring-audit-logs": {
        "gb": 2000,
        "keep_days": 360,
        "full_reads_per_month": 0.05,
        "latency": "ms",
        "recreatable": False,
    },
}
pd.DataFrame(DATASETS).T


# %% answer="cost_plans"
### BEGIN SOLUTION
def plan_training(job: dict, spot_discount: float, interruptions_per_hour: float) -> dict:
    price = pricing.EC2_ON_DEMAND[job["instance_type"]].usd_per_hour
    on_demand_hours = job["work_hours"] + job["checkpoint_hours"]

    def runtime(every: float) -> float:
        return costopt.expected_runtime_hours(
            job["work_hours"], every, job["checkpoint_hours"], job["restart_hours"], interruptions_per_hour
        )

    every = min(CHECKPOINT_CHOICES, key=runtime)
    spot_hours = runtime(every)
    plan = {
        "on_demand_hours": on_demand_hours,
        "on_demand_cost_usd": on_demand_hours * price,
        "checkpoint_every_hours": every,
        "spot_hours": spot_hours,
        "spot_cost_usd": spot_hours * price * (1 - spot_discount),
    }
    spot_ok = spot_hours <= job["deadline_hours"] and plan["spot_cost_usd"] < plan["on_demand_cost_usd"]
    plan["market"] = "spot" if spot_ok else "on-demand"
    plan["cost_usd"] = plan["spot_cost_usd"] if spot_ok else plan["on_demand_cost_usd"]
    return plan


def choose_storage_class(pattern: dict) -> tuple[str, float]:
    costs = {}
    for name, price in pricing.S3_STORAGE.items():
        if pattern["latency"] == "ms" and price.needs_restore:
            continue
        if name == "ONEZONE_IA" and not pattern["recreatable"]:
            continue
        costs[name] = costopt.s3_pattern_cost(
            name, pattern["gb"], pattern["keep_days"], pattern["full_reads_per_month"]
        )
    best = min(costs, key=lambda c: (costs[c], c))
    return best, costs[best]


TRAINING_PLAN = plan_training(TRAIN_JOB, SPOT_DISCOUNT, SPOT_INTERRUPTIONS_PER_HOUR)
STORAGE_PLAN = {name: choose_storage_class(p) for name, p in DATASETS.items()}
### END SOLUTION
print(TRAINING_PLAN)
pd.DataFrame(STORAGE_PLAN, index=["class", "total_usd"]).T


# %% locked=true
def _reference_plan(job: dict, discount: float, rate: float) -> dict:
    price = pricing.EC2_ON_DEMAND[job["instance_type"]].usd_per_hour
    hours = {
        e: costopt.expected_runtime_hours(job["work_hours"], e, job["checkpoint_hours"], job["restart_hours"], rate)
        for e in CHECKPOINT_CHOICES
    }
    every = min(CHECKPOINT_CHOICES, key=lambda e: (hours[e], e))
    od = (job["work_hours"] + job["checkpoint_hours"]) * price
    spot = hours[every] * price * (1 - discount)
    market = "spot" if hours[every] <= job["deadline_hours"] and spot < od else "on-demand"
    return {
        "market": market,
        "checkpoint_every_hours": every,
        "spot_hours": hours[every],
        "spot_cost_usd": spot,
        "on_demand_cost_usd": od,
        "cost_usd": spot if market == "spot" else od,
    }


def _reference_class(pattern: dict) -> tuple[str, float]:
    costs = {
        c: costopt.s3_pattern_cost(c, pattern["gb"], pattern["keep_days"], pattern["full_reads_per_month"])
        for c, p in pricing.S3_STORAGE.items()
        if not (pattern["latency"] == "ms" and p.needs_restore)
        and not (c == "ONEZONE_IA" and not pattern["recreatable"])
    }
    best = min(costs, key=lambda c: (costs[c], c))
    return best, costs[best]


def _close(a: float, b: float, rel: float = 0.005) -> bool:
    return abs(a - b) <= rel * max(abs(b), 1e-9)


# %% check="cost_plans" points=1
assert "TRAINING_PLAN" in globals(), "TRAINING_PLAN is not defined: run plan_training in the exercise cell"
_ref = _reference_plan(TRAIN_JOB, SPOT_DISCOUNT, SPOT_INTERRUPTIONS_PER_HOUR)
assert TRAINING_PLAN["market"] == _ref["market"], f"expected {_ref['market']}, saw {TRAINING_PLAN['market']}"
assert TRAINING_PLAN["checkpoint_every_hours"] == _ref["checkpoint_every_hours"], (
    f"expected a checkpoint every {_ref['checkpoint_every_hours']} h, saw {TRAINING_PLAN['checkpoint_every_hours']}"
)
assert _close(TRAINING_PLAN["cost_usd"], _ref["cost_usd"]), (
    f"expected ${_ref['cost_usd']:,.2f}, saw {TRAINING_PLAN['cost_usd']}"
)
### BEGIN HIDDEN TESTS
for _job, _disc, _rate, _why in (
    ({**TRAIN_JOB, "deadline_hours": 33.0}, 0.65, 0.05, "Spot's expected 33.6 h misses a 33 h deadline"),
    (
        {**TRAIN_JOB, "checkpoint_hours": 0.25, "restart_hours": 0.5},
        0.3,
        0.6,
        "interruptions every ~1.7 h eat a 30% discount",
    ),
    (
        {**TRAIN_JOB, "checkpoint_hours": 0.25, "restart_hours": 0.5},
        0.6,
        0.3,
        "cheaper on Spot but expected to miss the deadline",
    ),
    ({**TRAIN_JOB, "checkpoint_hours": 0.05}, 0.65, 0.2, "cheap checkpoints: checkpoint often, stay on Spot"),
    (
        {
            "instance_type": "p4d.24xlarge",
            "work_hours": 60.0,
            "checkpoint_hours": 0.2,
            "restart_hours": 0.5,
            "deadline_hours": 120.0,
        },
        0.6,
        0.02,
        "rare interruptions: checkpoint every few hours",
    ),
):
    _ref = _reference_plan(_job, _disc, _rate)
    _got = plan_training(_job, _disc, _rate)
    assert (_got["market"], _got["checkpoint_every_hours"]) == (_ref["market"], _ref["checkpoint_every_hours"]), (
        f"{_why}: expected {_ref['market']} with checkpoints every {_ref['checkpoint_every_hours']} h, "
        f"saw {_got['market']} every {_got['checkpoint_every_hours']} h"
    )
    for _k in ("spot_hours", "spot_cost_usd", "on_demand_cost_usd", "cost_usd"):
        assert _close(_got[_k], _ref[_k]), f"{_why}: {_k} expected {_ref[_k]:,.2f}, saw {_got[_k]}"
### END HIDDEN TESTS

# %% check="cost_plans" points=1
assert "STORAGE_PLAN" in globals(), "STORAGE_PLAN is not defined: build it in the exercise cell"
for _name, _pattern in DATASETS.items():
    _ref = _reference_class(_pattern)
    assert STORAGE_PLAN[_name][0] == _ref[0], (
        f"{_name}: expected {_ref[0]} (${_ref[1]:,.2f}), saw {STORAGE_PLAN[_name]}"
    )
    assert _close(STORAGE_PLAN[_name][1], _ref[1]), f"{_name}: expected ${_ref[1]:,.2f}, saw {STORAGE_PLAN[_name][1]}"
### BEGIN HIDDEN TESTS
for _name, _pattern in {
    "scratch-features": {"gb": 500, "keep_days": 20, "full_reads_per_month": 0.0, "latency": "ms", "recreatable": True},
    "embeddings": {"gb": 400, "keep_days": 180, "full_reads_per_month": 2, "latency": "ms", "recreatable": True},
    "legal-hold": {
        "gb": 3000,
        "keep_days": 720,
        "full_reads_per_month": 0.01,
        "latency": "hours",
        "recreatable": False,
    },
    "quarterly-reports": {
        "gb": 1200,
        "keep_days": 720,
        "full_reads_per_month": 0.3,
        "latency": "ms",
        "recreatable": False,
    },
}.items():
    _ref = _reference_class(_pattern)
    _got = choose_storage_class(_pattern)
    assert _got[0] == _ref[0] and _close(_got[1], _ref[1]), f"{_name}: expected {_ref[0]} (${_ref[1]:,.2f}), saw {_got}"
### END HIDDEN TESTS

# %% [markdown]
# ### RDS: the metadata database
#
# Module 8's metadata database runs as `db.r6g.xlarge`, Multi-AZ, 500 GB gp3, around the clock, and
# a copy serves development. The options, priced (instance hours, the standby, storage; the dev
# copy stopped outside 50 working hours a week — RDS starts a stopped instance again after 7 days,
# so stopping is a schedule, not a state):

# %% locked=true
_week_hours = 50 * pricing.HOURS_PER_MONTH / 168
RDS_OPTIONS = pd.DataFrame(
    [
        ("prod as is", "db.r6g.xlarge", True, 500, pricing.HOURS_PER_MONTH),
        ("prod on general purpose (CPU p95 30%, 12 GiB used)", "db.m6g.xlarge", True, 500, pricing.HOURS_PER_MONTH),
        ("dev as a full copy", "db.r6g.xlarge", True, 500, pricing.HOURS_PER_MONTH),
        ("dev: single-AZ, burstable, 100 GB", "db.t4g.medium", False, 100, pricing.HOURS_PER_MONTH),
        ("dev: same, stopped nights and weekends", "db.t4g.medium", False, 100, _week_hours),
    ],
    columns=["option", "class", "multi_az", "storage_gb", "running_hours"],
)
RDS_OPTIONS["usd_per_month"] = [
    round(costopt.rds_monthly_cost(c, storage_gb=g, multi_az=m, running_hours=h), 2)
    for c, m, g, h in RDS_OPTIONS[["class", "multi_az", "storage_gb", "running_hours"]].itertuples(index=False)
]
display(RDS_OPTIONS[["option", "class", "multi_az", "storage_gb", "usd_per_month"]])

# the dev database through the RDS API: created small, encrypted, and stopped when nobody works
rds.create_db_instance(
    DBInstanceIdentifier=DEV_DB,
    DBInstanceClass="db.t4g.medium",
    Engine="postgres",
    EngineVersion="16.3",
    AllocatedStorage=100,
    StorageType="gp3",
    MasterUsername="mlmeta",
    ManageMasterUserPassword=True,
    StorageEncrypted=True,
    KmsKeyId=KMS_KEY_ARN,
    MultiAZ=False,
    PubliclyAccessible=False,
    Tags=TAGS,
)
rds.stop_db_instance(DBInstanceIdentifier=DEV_DB)
_dev = rds.describe_db_instances(DBInstanceIdentifier=DEV_DB)["DBInstances"][0]
print(DEV_DB, _dev["DBInstanceClass"], "| status:", _dev["DBInstanceStatus"], "| encrypted:", _dev["StorageEncrypted"])

# %% [markdown]
# ## Wrap-up
#
# **What ran here:** KMS really encrypted (moto's KMS enforces the encryption context and the 4 KB
# limit) and AES-GCM ran locally; Secrets Manager kept versions and stages; a real TLS 1.3 handshake
# with certificate and host-name checks ran on this machine; ACM, the ALB listeners, WAF web ACLs,
# IP sets, the Shield protection, the GuardDuty detector and filter were stored by the emulator;
# the web ACL was replayed through `labkit.waf` (tested) and findings were routed by EventBridge
# pattern matching into SQS; the right-sizing read metrics from CloudWatch; the costs are computed
# from dated list prices with `labkit.costopt` (tested, including a Monte Carlo check of the Spot
# model).
#
# **What the live AWS tier adds:** key policies, grants and CloudTrail records of every `Decrypt`;
# Secrets Manager rotation Lambdas that change the database password; ACM validating the DNS record
# and renewing certificates; WAF inspecting real requests, with AWS's managed rules (which the
# evaluator here cannot run), labels, bot control, CAPTCHA and its CloudWatch metrics and logs;
# Shield's DDoS detection and response team; GuardDuty analysing CloudTrail, flow logs and DNS and
# producing findings (and sample findings on request); EC2 publishing its own metrics, Compute
# Optimizer recommendations, real Spot prices and interruptions (`describe_spot_price_history`
# returns placeholders on the emulator), and the bill itself (Cost Explorer, Budgets, Savings
# Plans recommendations).
#
# Cleanup: delete the web ACL and IP sets, the Shield protection, listeners, ALB, certificates and
# network, the detector, rule, bus and queue, the secret and parameter, the bucket, the dev
# database and the instances; schedule the KMS key's deletion (7 days is the shortest waiting
# period AWS allows). CloudWatch metric data cannot be deleted; it expires (after 15 months on AWS).
# A Shield Advanced subscription cannot be cancelled before its year ends.

# %% locked=true
cleanup()
try:
    _key_id = kms.describe_key(KeyId=KMS_ALIAS)["KeyMetadata"]["KeyId"]
    kms.delete_alias(AliasName=KMS_ALIAS)
    kms.schedule_key_deletion(KeyId=_key_id, PendingWindowInDays=7)
except kms.exceptions.NotFoundException:
    pass
shutil.rmtree(WORK, ignore_errors=True)  # the certificate and its private key
print("cleaned up", NAME)
