"""Buckets and tables, one per spec entry."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from shelfwise_infra import spec
from shelfwise_infra.retention import Retention

ACCESS_LOG_EXPIRY_DAYS = 365


def lifecycle_rules(retention: Retention) -> list[s3.LifecycleRule]:
    """The data bucket's lifecycle: raw drops and rejection reports expire with the deployment's retention
    (docs/privacy.md); every prefix's replaced or expired versions follow after `noncurrent_version_days`."""
    expiring = [
        s3.LifecycleRule(id=rule_id, prefix=prefix, expiration=Duration.days(days))
        for rule_id, prefix, days in retention.expiring_prefixes()
    ]
    return [
        *expiring,
        s3.LifecycleRule(
            id="expire-noncurrent-versions",
            noncurrent_version_expiration=Duration.days(retention.noncurrent_version_days),
            # Once its older versions are gone, an expired object's delete marker is removed as well.
            expired_object_delete_marker=True,
            abort_incomplete_multipart_upload_after=Duration.days(7),
        ),
    ]


class Storage(Construct):
    """Every bucket and table in the spec, keyed by spec id."""

    def __init__(self, scope: Construct, construct_id: str, *, retention: Retention | None = None) -> None:
        super().__init__(scope, construct_id)
        self._retention = retention or Retention()
        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(ACCESS_LOG_EXPIRY_DAYS))
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.buckets: dict[str, s3.Bucket] = {bucket.id: self._data_bucket(bucket) for bucket in spec.BUCKETS}
        self.tables: dict[str, dynamodb.Table] = {table.id: self._table(table) for table in spec.TABLES}

    def _data_bucket(self, bucket: spec.Bucket) -> s3.Bucket:
        return s3.Bucket(
            self,
            bucket.id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix=f"{bucket.local_name}/",
            lifecycle_rules=lifecycle_rules(self._retention),
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _table(self, table: spec.Table) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            table.id,
            partition_key=dynamodb.Attribute(name=table.partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=(
                dynamodb.Attribute(name=table.sort_key, type=dynamodb.AttributeType.STRING)
                if table.sort_key
                else None
            ),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=table.ttl_attribute,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            removal_policy=RemovalPolicy.RETAIN,
        )
