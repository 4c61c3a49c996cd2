terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.90"
    }
  }

  # Remote state in S3 with native S3 locking (use_lockfile, Terraform >= 1.10):
  # no DynamoDB table needed. Bucket/key/region come from a partial config:
  #   terraform init -backend-config=backend/dev.s3.tfbackend
  # Each workspace's state lands under env:/<workspace>/<key>.
  backend "s3" {}
}
